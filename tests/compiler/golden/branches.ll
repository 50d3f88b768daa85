define range(i32 0, 2) i32 @branches(ptr readonly captures(none) %.1) local_unnamed_addr section "socket" {
entry:
  %.42 = alloca i64, align 8
  %.32 = alloca i32, align 4
  %.16 = load i32, ptr %.1, align 4
  %.17 = icmp ult i32 %.16, 11
  %.24.1 = select i1 %.17, i32 2, i32 1
  %.17.3 = icmp ugt i32 %.16, 10
  %.23.3 = select i1 %.17.3, i32 3, i32 1
  %.24.3 = add nuw nsw i32 %.23.3, %.24.1
  store i32 %.24.3, ptr %.32, align 4
  %.34 = call ptr inttoptr (i64 1 to ptr)(ptr nonnull @hits, ptr nonnull %.32)
  %.37.not = icmp eq ptr %.34, null
  br i1 %.37.not, label %for.end.if, label %for.end.endif

common.ret:                                       ; preds = %for.end.endif, %and.next, %for.end.if
  %common.ret.op = phi i32 [ 0, %for.end.if ], [ 0, %for.end.endif ], [ %0, %and.next ]
  ret i32 %common.ret.op

for.end.if:                                       ; preds = %entry
  store i32 %.24.3, ptr %.32, align 4
  store i64 1, ptr %.42, align 8
  %.44 = call i64 inttoptr (i64 2 to ptr)(ptr nonnull @hits, ptr nonnull %.32, ptr nonnull %.42, i64 0)
  br label %common.ret

for.end.endif:                                    ; preds = %entry
  %.47 = load i64, ptr %.34, align 8
  %.48 = icmp ugt i64 %.47, 3
  br i1 %.48, label %and.next, label %common.ret

and.next:                                         ; preds = %for.end.endif
  %.51 = load i32, ptr %.1, align 4
  %.52 = icmp ne i32 %.51, 0
  %0 = zext i1 %.52 to i32
  br label %common.ret
}
