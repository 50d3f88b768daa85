"""A corpus of programs ported from the kernel's BPF selftests, samples/bpf and libbpf-tools/BCC.

Each module is one ported program, rewritten in pyebpf's Python; its docstring names
the original and what was adapted.  ``tests/kernel/test_corpus.py`` loads each one and
checks its behaviour with ``test_run`` or a real trigger.
"""
