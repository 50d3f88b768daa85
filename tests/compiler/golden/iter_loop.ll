define i32 @iter_loop(ptr readonly captures(none) %.1) local_unnamed_addr section "socket" {
entry:
  %__iter2 = alloca i64, align 8
  %__iter1 = alloca i64, align 8
  %.6 = load i32, ptr %.1, align 4
  %.7 = call i32 @bpf_iter_num_new(ptr nonnull %__iter1, i32 0, i32 %.6)
  %.910 = call ptr @bpf_iter_num_next(ptr nonnull %__iter1)
  %.10.not11 = icmp eq ptr %.910, null
  br i1 %.10.not11, label %common.ret, label %iter.body.preheader

iter.body.preheader:                              ; preds = %entry
  br label %iter.body

iter.body:                                        ; preds = %iter.body.preheader, %iter.done.1
  %.913 = phi ptr [ %.9, %iter.done.1 ], [ %.910, %iter.body.preheader ]
  %total.012 = phi i32 [ %total.1.lcssa, %iter.done.1 ], [ 0, %iter.body.preheader ]
  %.12 = load i32, ptr %.913, align 4
  %.15 = icmp eq i32 %.12, 5
  br i1 %.15, label %common.ret, label %iter.body.endif

common.ret:                                       ; preds = %iter.body, %iter.done.1, %entry, %iter.body.1.if
  %common.ret.op = phi i32 [ 7, %iter.body.1.if ], [ 0, %entry ], [ %total.1.lcssa, %iter.done.1 ], [ %total.012, %iter.body ]
  call void @bpf_iter_num_destroy(ptr nonnull %__iter1)
  ret i32 %common.ret.op

iter.body.endif:                                  ; preds = %iter.body
  %.19 = call i32 @bpf_iter_num_new(ptr nonnull %__iter2, i32 2, i32 %.12)
  %.216 = call ptr @bpf_iter_num_next(ptr nonnull %__iter2)
  %.22.not7 = icmp eq ptr %.216, null
  br i1 %.22.not7, label %iter.done.1, label %iter.body.1.preheader

iter.body.1.preheader:                            ; preds = %iter.body.endif
  br label %iter.body.1

iter.next.1:                                      ; preds = %iter.body.1
  %.34 = add i32 %.24, %total.18
  %.21 = call ptr @bpf_iter_num_next(ptr nonnull %__iter2)
  %.22.not = icmp eq ptr %.21, null
  br i1 %.22.not, label %iter.done.1, label %iter.body.1

iter.body.1:                                      ; preds = %iter.body.1.preheader, %iter.next.1
  %.219 = phi ptr [ %.21, %iter.next.1 ], [ %.216, %iter.body.1.preheader ]
  %total.18 = phi i32 [ %.34, %iter.next.1 ], [ %total.012, %iter.body.1.preheader ]
  %.24 = load i32, ptr %.219, align 4
  %.27 = icmp eq i32 %.24, 3
  br i1 %.27, label %iter.body.1.if, label %iter.next.1

iter.done.1:                                      ; preds = %iter.next.1, %iter.body.endif
  %total.1.lcssa = phi i32 [ %total.012, %iter.body.endif ], [ %.34, %iter.next.1 ]
  call void @bpf_iter_num_destroy(ptr nonnull %__iter2)
  %.9 = call ptr @bpf_iter_num_next(ptr nonnull %__iter1)
  %.10.not = icmp eq ptr %.9, null
  br i1 %.10.not, label %common.ret, label %iter.body

iter.body.1.if:                                   ; preds = %iter.body.1
  call void @bpf_iter_num_destroy(ptr nonnull %__iter2)
  br label %common.ret
}
