log info ENV "$TAG $ID $ACTION $PARAM_X $ARK_EVENT"
log info CMDENV "$(/bin/sh -c 'echo "$TAG $PARAM_X $ARK_EVENT"')"
log info CMDHOME "$(/bin/sh -c 'echo "${HOME-unset}"')"
