# Sourced by bench/run.sh (PHASES=camera): the camera relay (docs/camera.md).
#   printdeck-sim plays a P1S (port 6000: 1280x720 JPEGs) and an X1C (RTSPS: H.264 at
#   CAM_RTSP_SIZE, 1920x1080), each at CAM_FPS frames a second. Each stream is relayed to 1, 10
#   and 50 MJPEG viewers (pdbench camera) for CAM_SECONDS: the daemon's CPU and RSS, the frames
#   each viewer got against those the camera made, and the latency in→out: the simulator draws
#   each frame's number across the top of the picture and logs when the frame went out to its
#   socket (--camera-log); a viewer reads the number back from each JPEG it receives (decoding
#   only those rows) and notes the arrival; both on CLOCK_MONOTONIC. So "in" is the moment the
#   camera sent the frame (after its own JPEG or H.264 encoding) and "out" the viewer holding
#   the whole JPEG: TLS, RTSP, the decode, the hub and HTTP are all inside it.
#   Beside it, FFmpeg reads the same RTSPS stream once and writes MJPEG (decode, scale to 1280,
#   encode: what printdeck does for that stream) to one reader that measures it the same way.
#   go2rtc is not packaged in Debian, so it is not compared. Last, ten viewers asking for
#   ?width=640 of the port-6000 stream: the cost of a smaller size.
CAM_SECONDS=${CAM_SECONDS:-20}; CAM_FPS=${CAM_FPS:-5}; CAM_RTSP_SIZE=${CAM_RTSP_SIZE:-1920x1080}
CAM_VIEWERS=${CAM_VIEWERS:-1 10 50}; CAM_PORT=${CAM_PORT:-29600}
echo "== camera: a 720p port-6000 and a ${CAM_RTSP_SIZE} RTSPS stream to ${CAM_VIEWERS// /, } viewers, ${CAM_SECONDS} s each"
rm -f "$OUT/cam-sent.log"
FLEET_SIM=1 FLEET_SIM_ARGS="--no-auto-jobs --camera-port $CAM_PORT --cert-dir $PWD/$OUT/broker --camera-fps $CAM_FPS \
  --camera-rtsp-size $CAM_RTSP_SIZE --camera-max 4 --camera-log $PWD/$OUT/cam-sent.log" \
  FLEET_INI='[camera]\nmax_viewers = 100\nidle_s = 2\n' fleet 2 P1S,X1C printer
"$B/printdeck-sim" --list --printers 2 --models P1S,X1C >"$OUT/cam-models.txt"
# each printer's camera on its simulated camera: printer i on CAM_PORT + i
ids=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/api/v1/printers")
cam_id() { node -e 'const a=JSON.parse(process.argv[1]); const p=(a.items||a).find(x=>x.serial===process.argv[2]); console.log(p.id)' "$ids" "$1"; }
i=0; while read -r serial model; do
  curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"camera_port\": $((CAM_PORT + i))}" "http://127.0.0.1:$HTTP_PORT/api/v1/printers/$(cam_id "$serial")"
  i=$((i + 1))
done <"$OUT/cam-models.txt"
P1S_SERIAL=$(awk '$2=="P1S"{print $1}' "$OUT/cam-models.txt"); X1C_SERIAL=$(awk '$2=="X1C"{print $1}' "$OUT/cam-models.txt")

# got.txt ("viewer frame us width") against the camera's sent lines: latency and frames
cam_report() { # LABEL SERIAL GOT CPU_TICKS RSS_KB SECONDS
  awk -v label="$1" -v serial="$2" -v cpu="$4" -v rss="$5" -v t="$6" -v hz="$hz" -v out="$OUT/cam-lat.txt" '
    FNR==NR { if ($1==serial) sent[$2]=$3; next }
    { v=$1; f=$2; w[v]=$4
      if (f<0 || !(f in sent)) { bad++; next }
      lat=$3-sent[f]; print lat/1000 >out; n++
      got[v]++; if (!(v in lo) || f<lo[v]) lo[v]=f; if (f>hi[v]) hi[v]=f }
    END { close(out)
      cmd="sort -n " out; k=0; while ((cmd | getline x) > 0) l[++k]=x; close(cmd)
      minr=1; sumr=0; nv=0
      for (v in got) { r=got[v]/(hi[v]-lo[v]+1); sumr+=r; nv++; if (r<minr) minr=r; width=w[v] }
      if (!k) { printf "%s: no frame read\n", label; exit }
      i50=int(k*0.5)+1; if (i50>k) i50=k; i99=int(k*0.99)+1; if (i99>k) i99=k
      printf "%s: CPU %.1f %% of one core, RSS %.1f MB; %d frames to %d viewers (width %d), delivered/produced per viewer mean %.2f min %.2f; latency p50 %.1f ms p99 %.1f ms max %.1f ms; unreadable %d\n",
        label, 100*cpu/hz/t, rss/1024, n, nv, width, sumr/nv, minr, l[i50], l[i99], l[k], bad }' \
    "$OUT/cam-sent.log" "$3"
}

cam_window() { # LABEL SERIAL PATH VIEWERS FILE
  "$B/pdbench" camera --port "$HTTP_PORT" --token "$TOKEN" --path "$3" --viewers "$4" \
    --seconds $((CAM_SECONDS + 3)) --out "$5" &
  local v=$!
  sleep 3  # the upstream opens and the viewers settle; the last window's closed (idle_s 2)
  c0=$(cpu_ticks $PD); sleep "$CAM_SECONDS"; c1=$(cpu_ticks $PD); r=$(rss_kb $PD)
  wait $v || true
  cam_report "$1" "$2" "$5" $((c1 - c0)) "$r" "$CAM_SECONDS" | tee -a "$OUT/camera.txt"
}
for kind in jpeg6000 rtsps; do
  if [ $kind = jpeg6000 ]; then serial=$P1S_SERIAL; else serial=$X1C_SERIAL; fi
  for n in $CAM_VIEWERS; do
    cam_window "printdeck $kind, $n viewers" "$serial" "/api/v1/printers/$(cam_id "$serial")/camera" "$n" \
      "$OUT/cam-got-$kind-$n.txt"
  done
done
# a smaller size: each port-6000 frame decoded at 4/8, encoded again, once for all of them
cam_window "printdeck jpeg6000 ?width=640, 10 viewers" "$P1S_SERIAL" \
  "/api/v1/printers/$(cam_id "$P1S_SERIAL")/camera?width=640" 10 "$OUT/cam-got-jpeg6000-640.txt"
# FFmpeg: the same RTSPS stream read once, decoded, scaled to 1280 and written as MJPEG
rm -f "$OUT/ff.fifo"; mkfifo "$OUT/ff.fifo"
"$B/pdbench" camera --stdin --seconds $((CAM_SECONDS + 6)) --out "$OUT/cam-got-ffmpeg.txt" <"$OUT/ff.fifo" &
V=$!
# every picture (the camera sends CAM_FPS, as many as printdeck makes); a short probe, or
# FFmpeg reads 5 s of stream before its first output; its fps filter held frames back here.
# Its low-delay settings, and one thread each way as printdeck's decode has: 815 ms p50 with
# the defaults, 410 ms with the low-delay flags, 213 ms with one thread too (2026-12-03)
ffmpeg -nostdin -loglevel error -threads 1 -analyzeduration 500000 -probesize 200000 \
  -fflags nobuffer -flags low_delay -max_delay 0 -reorder_queue_size 0 -rtsp_transport tcp \
  -i "rtsps://bblp:12345678@127.0.0.1:$((CAM_PORT + 1))/streaming/live/1" \
  -vf scale=1280:-2 -threads 1 -q:v 4 -f mpjpeg - >"$OUT/ff.fifo" 2>"$OUT/ffmpeg.log" &
FF=$!; pids+=($FF)
sleep 5  # its probe
c0=$(cpu_ticks $FF); sleep "$CAM_SECONDS"; c1=$(cpu_ticks $FF); r=$(rss_kb $FF || echo 0)
kill $FF 2>/dev/null || true; wait $V || true
cam_report "ffmpeg (RTSPS to MJPEG, one reader)" "$X1C_SERIAL" "$OUT/cam-got-ffmpeg.txt" $((c1 - c0)) "$r" "$CAM_SECONDS" | tee -a "$OUT/camera.txt"
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep '^printdeck_camera_' | tee -a "$OUT/camera.txt"
stop_daemon; kill "$SIM" 2>/dev/null || true
