#!/usr/bin/env bash
# make run: a township service, one village box and a simulated loudspeaker
# on this machine, with a demo broadcast plan, until Ctrl-C.
#
# Usage: configs/demo/run.sh RUN_DIR HTTP_ADDR MQTT_ADDR SPEAKER_ADDR CAMERA_ADDR RELAY_ADDR
# The binaries are expected in ./bin (make build).
set -euo pipefail
run=$1 http=$2 mqtt=$3 spk=$4 cam=$5 relay=$6
mkdir -p "$run"

[ -f "$run/admin-password" ] || head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$run/admin-password"
pass=$(cat "$run/admin-password")
cat > "$run/cloud.yaml" <<YAML
data_dir: $run/cloud
http:
  listen: $http
mqtt:
  listen: $mqtt
# The demo's camera is simulated on this machine, as is the box: allow a
# camera URL that points the box at loopback (never on a real township).
cameras:
  allow_local_targets: true
YAML
if [ ! -f "$run/edge.yaml" ]; then
  ./bin/dalaba-cloud box add village-1 --name 示范村 --config "$run/cloud.yaml" --broker-url "tcp://$mqtt" > "$run/edge.yaml.tmp"
  printf '\nrelay:\n  listen: %s\n' "$relay" >> "$run/edge.yaml.tmp"
  mv "$run/edge.yaml.tmp" "$run/edge.yaml"
fi

trap 'kill $(jobs -p) 2>/dev/null; wait' INT TERM EXIT
DALABA_ADMIN_PASSWORD=$pass ./bin/dalaba-cloud serve --config "$run/cloud.yaml" 2> "$run/cloud.log" &
./bin/dalaba-edge --config "$run/edge.yaml" --data-dir "$run/edge" 2> "$run/edge.log" &
./bin/dalaba-sim speaker --listen "$spk" --record "$run/speaker" --stats-interval 1m 2> "$run/speaker.log" > "$run/speaker.out" &
./bin/dalaba-sim camera --listen "$cam" --stats-interval 1m 2> "$run/camera.log" > "$run/camera.out" &

api=http://$http/api/v1
for _ in $(seq 100); do curl -fs "http://$http/healthz" >/dev/null && break; sleep 0.1; done
token=$(curl -fsS -d "{\"username\":\"admin\",\"password\":\"$pass\"}" "$api/login" | jq -r .token)
auth=(-H "Authorization: Bearer $token")

# The demo plan, set at every start: a horn on the square (the simulated
# speaker), a greeting spoken by espeak-ng, played a minute from now and
# every day at 08:00 and 18:00, quiet from 22:00 to 06:30.
{
  espeak-ng -v cmn-latn-pinyin -s 150 -w "$run/greeting.wav" "各位村民请注意，这里是示范村广播站。今天天气晴，请大家注意防火。"
  sha=$(curl -fsS "${auth[@]}" --data-binary @"$run/greeting.wav" "$api/media?name=greeting.wav" | jq -r .sha256)
  once=$(TZ=Asia/Shanghai date -d '+1 minute' +%Y-%m-%dT%H:%M:00+08:00)
  jq -n --arg addr "$spk" --arg sha "$sha" --arg once "$once" '{
    quiet: [{from: "22:00", to: "06:30"}],
    speakers: [{id: "horn", name: "村口大喇叭", driver: "rtp", addr: $addr}],
    zones: [{id: "square", name: "村口广场", speakers: ["horn"]}],
    schedules: [
      {id: "greeting", name: "试播", media: [$sha], zones: ["square"], rule: {once: $once}},
      {id: "daily", name: "每日广播", media: [$sha], zones: ["square"], rule: {at: ["08:00", "18:00"]}}
    ]}' | curl -fsS "${auth[@]}" -X PUT --data-binary @- "$api/boxes/village-1/broadcast" >/dev/null
  # The village gate's camera (simulated), relayed by the box on demand.
  jq -n --arg url "rtsp://$cam/cam1" '{name: "村口", url: $url}' |
    curl -fsS "${auth[@]}" -X PUT --data-binary @- "$api/boxes/village-1/cameras/gate" >/dev/null
}

cat <<TXT

  Dalaba is running (Ctrl-C stops everything)
  console:        http://$http/   (admin / $pass)
  township API:   $api
  MQTT broker:    tcp://$mqtt
  village box:    village-1 (示范村), config $run/edge.yaml
  loudspeaker:    simulated at $spk; what it hears goes to $run/speaker/heard.wav on exit
  camera:         simulated at rtsp://$cam/cam1, relayed by the box at rtsp://$relay/gate
                  (ffplay -rtsp_transport tcp rtsp://$relay/gate)
  logs:           $run/cloud.log $run/edge.log $run/speaker.log $run/camera.log

  The demo greeting plays within a minute, then daily at 08:00 and 18:00.
  Play log:       curl -s -H "Authorization: Bearer $token" "$api/boxes/village-1/events?limit=20" | jq '.events[] | select(.type=="broadcast.played")'
  Coming plays:   curl -s -H "Authorization: Bearer $token" "$api/boxes/village-1/upcoming"
  Play now:       curl -s -H "Authorization: Bearer $token" -d '{"media":["<sha256>"],"priority":"emergency"}' $api/boxes/village-1/play

TXT
wait
