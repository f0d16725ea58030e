#!/bin/sh
# tmux as a user scripts it: a detached session running sh, keys sent to
# it, the pane captured. Waits by polling the pane (never by time alone).
S=$(mktemp -u /tmp/tmux-test.XXXXXX)
export TERM=xterm
wait_pane() {
  for i in $(seq 300); do
    tmux -S "$S" capture-pane -p | grep -q "$1" && return 0
    sleep 0.1
  done
  echo "timeout waiting for $1"
}
tmux -S "$S" -f /dev/null new-session -d -x 60 -y 8 "env PS1='P> ' sh"
wait_pane '^P>'
tmux -S "$S" send-keys 'echo hello $((6*7)); stty size; tty | cut -c1-9' Enter
wait_pane '^/dev/pts/'
tmux -S "$S" capture-pane -p
tmux -S "$S" list-sessions -F '#{session_name} #{window_width}x#{window_height} #{pane_current_command}'
tmux -S "$S" kill-server
echo "kill-server $?"
