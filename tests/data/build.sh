#!/bin/sh
# Rebuild the ELF fixtures with clang (only needed when a .c file changes).
set -e
cd "$(dirname "$0")"
CLANG=${CLANG:-clang}
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
for src in *.c; do
	"$CLANG" -target bpf -O2 -g -fdebug-prefix-map="$PWD"=. -I"$ARCH_INC" -c "$src" -o "${src%.c}.o"
done
