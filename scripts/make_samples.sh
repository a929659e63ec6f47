#!/usr/bin/env bash
# Regenerates data/samples/: short English sentences spoken by offline voices (Debian flite and
# espeak-ng), stored as 16 kHz mono FLAC with their transcripts. The course ships the result, so
# students need neither engine; instructors can re-run this to change the sentences.
set -euo pipefail
out=$(dirname "$0")/../data/samples
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
say() {  # say ID ENGINE VOICE TEXT
  local id=$1 engine=$2 voice=$3 text=$4
  case $engine in
    flite) flite -voice "$voice" -t "$text" -o "$tmp/$id.wav" ;;
    espeak) espeak-ng -v "$voice" -w "$tmp/$id.wav" "$text" ;;
  esac
  sox "$tmp/$id.wav" -r 16000 -c 1 "$out/$id.flac"
  printf '%s %s\n' "$id" "$text" >> "$tmp/trans.txt"
}
say slt-0001 flite slt "The quick brown fox jumps over the lazy dog."
say rms-0002 flite rms "What is seven plus five?"
say en-0003 espeak en-us "Mini Omni can hear, think and talk at the same time."
sort "$tmp/trans.txt" > "$out/trans.txt"
ls -l "$out"
