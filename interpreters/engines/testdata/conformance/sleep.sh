sleep 0.05
sleep 0
sleep 1
log info SLEPT yes
