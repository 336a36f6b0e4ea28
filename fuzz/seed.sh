#!/usr/bin/env bash
# Seed corpora from the bundled real captures (data/) and a few generated files: the first
# lines of each (libFuzzer mutates inputs of a few KB best). Writes corpus/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
bin=../target/release/ticklane
[ -x "$bin" ] || cargo build --release -p ticklane-tools --manifest-path ../Cargo.toml
mkdir -p corpus/{read_csv,read_tardis,read_dbn,read_dbn_zst,read_quotes,read_binance,read_dbn_quotes,decimal,duration,wire,pipeline}
head -c 3000 ../data/GLBX_ESH4_trades_2023-12-25.csv > corpus/read_csv/glbx
head -c 3000 ../data/tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv > corpus/read_csv/tardis
cp corpus/read_csv/tardis corpus/read_tardis/tardis
head -c 3000 ../data/tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv > corpus/read_quotes/tardis
printf 'ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz,ts_recv\n1,X,1.5,2,1.6,1,\n2,X,,,1.7,3,5\n' > corpus/read_quotes/ticklane
tmp=$(mktemp -d)
gzip -dc ../data/binance_spot_btcusdt_20240808.stream.gz > "$tmp/spot.stream"
head -c 4000 "$tmp/spot.stream" > corpus/read_binance/spot
"$bin" gen --rows 30 --instruments 3 --dup-fraction 0.1 --disorder 1s --out "$tmp/g.csv" >/dev/null
"$bin" gen --rows 30 --instruments 3 --names venue --out "$tmp/v.csv" >/dev/null
"$bin" gen --rows 20 --instruments 3 --format dbn --out "$tmp/g.dbn" >/dev/null
cp "$tmp/g.csv" corpus/read_csv/gen; cp "$tmp/v.csv" corpus/read_csv/venue
printf 'ts_event,ts_recv,instrument,price,size,side,trade_id\n"2024-01-01T00:00:00.5Z",,"A,B",1.5,"2",buy,"x""y"\r\n' > corpus/read_csv/quoted
cp "$tmp/g.dbn" corpus/read_dbn/gen
cp "$tmp/g.dbn" corpus/read_dbn_quotes/gen
cp ../data/GLBX_ESU4_trades_2024-07-01.dbn.zst corpus/read_dbn_zst/glbx
zstd -dc ../data/GLBX_ESU4_trades_2024-07-01.dbn.zst > corpus/read_dbn/glbx 2>/dev/null || true
for d in 0 1 -1 1.5 -0.000000001 9223372036.854775807 -9223372036.854775808 +12.340 .5 5.; do
  printf '%s' "$d" > "corpus/decimal/$(printf '%s' "$d" | md5sum | cut -c1-8)"
done
for d in 1s 100ms 5m 1h 250us 10ns 1d 18446744073709551615ns; do printf '%s' "$d" > "corpus/duration/$d"; done
# Ticks on a bus: JSON and MessagePack (the same map), a trade, a quote with one side.
printf '{"ts_event":5,"instrument":"binance:BTCUSDT","price":"61837.63","size":"0.02","ts_recv":6,"side":"buy","trade_id":123}' > corpus/wire/trade.json
printf '{"ts_event":7,"instrument":"X","bid_px":"1.5","bid_sz":"2","ask_px":"","ask_sz":""}' > corpus/wire/quote.json
printf '\x84\xa8ts_event\x05\xaainstrument\xa1X\xa5price\xa31.5\xa4size\xa12' > corpus/wire/trade.msgpack
# Pipeline files: the bundled examples.
for f in ../examples/pipelines/*.toml; do cp "$f" "corpus/pipeline/$(basename "$f")"; done
rm -rf "$tmp"
echo "seeded: $(ls corpus/* | wc -l) files"
