#!/bin/sh
# Rebuild the ELF fixtures with clang (only needed when a .c file changes).
set -e
cd "$(dirname "$0")"
CLANG=${CLANG:-clang}
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
# Only the BPF sources (they place code with SEC(...)); the other .c files are
# user-space targets for uprobe/USDT tests, which the tests build with gcc.
for src in $(grep -l 'SEC("' ./*.c); do
	"$CLANG" -target bpf -O2 -g -fdebug-prefix-map="$PWD"=. -I"$ARCH_INC" -c "$src" -o "${src%.c}.o"
done
