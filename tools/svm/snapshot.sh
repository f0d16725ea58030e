# Run in the background inside the SVM guest (tools/svm/run.py's job):
# every 30 s, write each task's state, wchan, CPU ticks and kernel stack
# to $1, so a run that stops making progress shows where its processes
# wait. Shell builtins only: under TCG every fork+exec costs much.
out=$1
while sleep 30; do
    {
        read -r up _ < /proc/uptime
        echo "guest uptime $up s"
        for t in /proc/[0-9]*/task/[0-9]*; do
            read -r stat < "$t/stat" 2>/dev/null || continue
            comm=${stat#*(}
            comm=${comm%%)*}
            set -- ${stat##*) }
            # kernel threads (no user memory: field 23, vsize, is 0)
            [ "${21}" = 0 ] && continue
            read -r wchan < "$t/wchan" 2>/dev/null
            echo "$t $comm state=$1 wchan=$wchan utime=${12} stime=${13}"
            while read -r frame; do echo "    $frame"; done < "$t/stack" 2>/dev/null
        done
    } > "$out.tmp" 2>&1
    mv "$out.tmp" "$out"
done
