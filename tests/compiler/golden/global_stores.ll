define noundef i32 @global_stores(ptr readonly captures(none) %.1) local_unnamed_addr #0 section "xdp" {
entry:
  store i32 7, ptr getelementptr inbounds nuw (i8, ptr @slots, i64 4), align 4
  %.8 = load i64, ptr getelementptr inbounds nuw (i8, ptr @origin, i64 8), align 8
  %.9 = load i32, ptr @origin, align 8
  %.10 = zext i32 %.9 to i64
  %.11 = add i64 %.8, %.10
  store i64 %.11, ptr getelementptr inbounds nuw (i8, ptr @origin, i64 8), align 8
  %.14 = getelementptr i8, ptr %.1, i64 16
  %.15 = load i32, ptr %.14, align 4
  %.18 = zext i32 %.15 to i64
  %.19 = tail call i64 asm sideeffect "", "=r,0"(i64 %.18) #0
  %.22 = icmp ult i64 %.19, 4
  br i1 %.22, label %entry.if, label %entry.endif

entry.if:                                         ; preds = %entry
  %.25 = tail call i64 asm sideeffect "", "=r,0"(i64 %.19) #0
  %.26 = shl i64 %.25, 2
  %.28 = getelementptr i8, ptr @slots, i64 %.26
  store i32 9, ptr %.28, align 4
  br label %entry.endif

entry.endif:                                      ; preds = %entry.if, %entry
  tail call void @llvm.memset.p0.i64(ptr noundef nonnull align 4 dereferenceable(12) getelementptr inbounds nuw (i8, ptr @origin, i64 4), i8 0, i64 12, i1 false)
  store i32 1, ptr @origin, align 8
  ret i32 0
}
