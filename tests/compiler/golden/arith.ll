define range(i32 -256, 256) i32 @arith(ptr readonly captures(none) %.1) local_unnamed_addr #0 section "xdp" {
entry:
  %.5 = getelementptr i8, ptr %.1, i64 12
  %.6 = load i32, ptr %.5, align 4
  %.10 = getelementptr i8, ptr %.1, i64 16
  %.11 = load i32, ptr %.10, align 4
  %sext = shl i32 %.11, 24
  %.17 = ashr exact i32 %sext, 24
  %.18 = icmp eq i32 %sext, 0
  %.19 = select i1 %.18, i32 1, i32 %.17
  %.21 = icmp slt i32 %.19, 0
  %.25 = tail call i32 @llvm.abs.i32(i32 %.19, i1 true)
  %.26.lhs.trunc = trunc i32 %.6 to i8
  %.26.rhs.trunc = trunc nuw i32 %.25 to i8
  %.26.lhs.trunc.frozen = freeze i8 %.26.lhs.trunc
  %.26.rhs.trunc.frozen = freeze i8 %.26.rhs.trunc
  %.262 = udiv i8 %.26.lhs.trunc.frozen, %.26.rhs.trunc.frozen
  %.26.zext = zext i8 %.262 to i32
  %0 = mul i8 %.262, %.26.rhs.trunc.frozen
  %.273.decomposed = sub i8 %.26.lhs.trunc.frozen, %0
  %.29 = sub nsw i32 0, %.26.zext
  %.30 = select i1 %.21, i32 %.29, i32 %.26.zext
  %.33 = icmp ne i8 %.273.decomposed, 0
  %.36 = and i1 %.33, %.21
  %.37 = sext i1 %.36 to i32
  %.38 = add nsw i32 %.30, %.37
  %.39 = select i1 %.18, i32 0, i32 %.38
  ret i32 %.39
}
