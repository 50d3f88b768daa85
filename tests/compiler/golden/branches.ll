define range(i32 0, 2) i32 @branches(ptr readonly captures(none) %.1) local_unnamed_addr section "socket" {
entry:
  %.43 = alloca i64, align 8
  %.33 = alloca i32, align 4
  %.17 = load i32, ptr %.1, align 4
  %.18 = icmp ult i32 %.17, 11
  %.25.1 = select i1 %.18, i32 2, i32 1
  %.18.3 = icmp ugt i32 %.17, 10
  %.24.3 = select i1 %.18.3, i32 3, i32 1
  %.25.3 = add nuw nsw i32 %.24.3, %.25.1
  store i32 %.25.3, ptr %.33, align 4
  %.35 = call ptr inttoptr (i64 1 to ptr)(ptr nonnull @hits, ptr nonnull %.33)
  %.38.not = icmp eq ptr %.35, null
  br i1 %.38.not, label %for.end.if, label %for.end.endif

common.ret:                                       ; preds = %for.end.endif, %and.next, %for.end.if
  %common.ret.op = phi i32 [ 0, %for.end.if ], [ 0, %for.end.endif ], [ %0, %and.next ]
  ret i32 %common.ret.op

for.end.if:                                       ; preds = %entry
  store i32 %.25.3, ptr %.33, align 4
  store i64 1, ptr %.43, align 8
  %.45 = call i64 inttoptr (i64 2 to ptr)(ptr nonnull @hits, ptr nonnull %.33, ptr nonnull %.43, i64 0)
  br label %common.ret

for.end.endif:                                    ; preds = %entry
  %.48 = load i64, ptr %.35, align 8
  %.49 = icmp ugt i64 %.48, 3
  br i1 %.49, label %and.next, label %common.ret

and.next:                                         ; preds = %for.end.endif
  %.52 = load i32, ptr %.1, align 4
  %.53 = icmp ne i32 %.52, 0
  %0 = zext i1 %.53 to i32
  br label %common.ret
}
