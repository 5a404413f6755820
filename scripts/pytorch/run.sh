#!/bin/sh
# Runs one of the PyTorch comparison scripts in this folder with Debian's
# python3-torch set up for a fair comparison with ccq (see README.md):
#
#   scripts/pytorch/run.sh throughput.py --threads 2
#
# Environment (all optional):
#   PT_THREADS=N      threads for OpenMP and OpenBLAS (default 2); pass the
#                     same number to the script's --threads
#   PT_BLAS=reference keep the BLAS Debian's torch links by default (the
#                     netlib reference BLAS, far slower than OpenBLAS)
#   PT_CORETYPE=NAME  OpenBLAS kernel family (default: SkylakeX on CPUs with
#                     AVX-512, else OpenBLAS's own detection)
#   PT_MALLOC=default keep glibc's default malloc trimming
#   PT_SPIN=1         let OpenMP threads spin while waiting
set -eu
here=$(dirname "$0")
threads=${PT_THREADS:-2}

if [ "${PT_BLAS:-openblas}" != reference ]; then
  # Debian's torch calls libblas.so.3; OpenBLAS ships one in its own folder.
  lib=""
  for d in /usr/lib/*/openblas-pthread; do
    [ -e "$d/libblas.so.3" ] && lib="$d/libblas.so.3"
  done
  if [ -z "$lib" ]; then
    echo "run.sh: OpenBLAS not found; apt-get install libopenblas0-pthread (or PT_BLAS=reference)" >&2
    exit 1
  fi
  export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
  export OPENBLAS_NUM_THREADS="$threads"
  coretype=${PT_CORETYPE:-}
  if [ -z "$coretype" ] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    coretype=SkylakeX # OpenBLAS 0.3.21 does not recognise every AVX-512 CPU
  fi
  if [ -n "$coretype" ]; then
    export OPENBLAS_CORETYPE="$coretype"
  fi
fi

if [ "${PT_MALLOC:-tuned}" != default ]; then
  # Keep freed memory in the process: on some virtual machines touching
  # fresh pages again is slow enough to dominate a forward pass.
  export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=268435456
fi

export OMP_NUM_THREADS="$threads"
if [ "${PT_SPIN:-0}" != 1 ]; then
  # Spinning OpenMP threads collapse throughput when the cores are shared.
  export OMP_WAIT_POLICY=PASSIVE
fi

script=$1
shift
case "$script" in
  */*) ;;
  *) script="$here/$script" ;;
esac
exec /usr/bin/python3 "$script" "$@"
