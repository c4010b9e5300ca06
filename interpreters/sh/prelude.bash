# The ark builtins for scripts run by the system's bash (sh.NewSystem).
# bash sources this file through BASH_ENV before the script. The functions
# talk to the engine over a TCP connection to 127.0.0.1 (bash's /dev/tcp)
# carrying a per-run token: one request line of tab-separated fields
# (\\, \n and \t escaped), one reply line "STATUS<TAB>PAYLOAD".
#
# Nothing of this file is left in the environment of the script's
# commands: the variables are not exported and the functions are not
# exported either.

__ark_endpoint=$__ARK_ENDPOINT
__ark_token=$__ARK_TOKEN
if [[ -n ${__ARK_USER_BASH_ENV+set} ]]; then
	export BASH_ENV=$__ARK_USER_BASH_ENV
else
	unset BASH_ENV
fi
unset __ARK_ENDPOINT __ARK_TOKEN __ARK_USER_BASH_ENV

# __ark_line OP ARGS...: the request line, into __ark_msg.
__ark_line() {
	local __ark_a
	__ark_msg=$__ark_token
	for __ark_a in "$@"; do
		__ark_a=${__ark_a//\\/\\\\}
		__ark_a=${__ark_a//$'\n'/\\n}
		__ark_a=${__ark_a//$'\t'/\\t}
		__ark_msg+=$'\t'$__ark_a
	done
}

# __ark_open: connect to the engine, fd in __ark_fd (the caller's local).
__ark_open() {
	{ exec {__ark_fd}<>"/dev/tcp/$__ark_endpoint"; } 2>/dev/null && return 0
	printf 'ark: %s: the ark daemon is not listening (the action has ended)\n' "$1" >&2
	return 125
}

# __ark_request OP ARGS...: one request; prints the reply's payload and
# returns its status (125: no engine to talk to).
__ark_request() {
	local __ark_fd __ark_reply
	__ark_open "$1" || return 125
	__ark_line "$@"
	printf '%s\n' "$__ark_msg" >&"$__ark_fd"
	IFS= read -r __ark_reply <&"$__ark_fd" || __ark_reply=$'125\tno reply'
	exec {__ark_fd}>&-
	printf '%s' "${__ark_reply#*$'\t'}"
	return "${__ark_reply%%$'\t'*}"
}

# __ark_die: end the script after a script error the engine has recorded.
# In a subshell ($(...), a pipeline) the whole script must end, not only
# the subshell, as in the other languages: the main shell and every
# subshell between it and this one get SIGKILL, this one last.
__ark_die() {
	if [[ $BASHPID != "$$" ]]; then
		local __ark_pids=$$ __ark_p=$BASHPID __ark_stat
		while [[ $__ark_p != "$$" && $__ark_p -gt 1 ]]; do
			[[ $__ark_p != "$BASHPID" ]] && __ark_pids+=" $__ark_p"
			IFS= read -r __ark_stat <"/proc/$__ark_p/stat" || break
			__ark_stat=${__ark_stat##*) } # past "pid (comm) "
			__ark_stat=${__ark_stat#* }    # past the state
			__ark_p=${__ark_stat%% *}      # the parent
		done
		# shellcheck disable=SC2086
		kill -KILL $__ark_pids "$BASHPID" 2>/dev/null
	fi
	exit 1
}

# __ark_fatal LOC MESSAGE: a misused builtin is a script error.
__ark_fatal() {
	__ark_request fatal "$1" "$2" >/dev/null
	__ark_die
}

# log LEVEL CODE MESSAGE...
log() {
	local - __ark_loc="${BASH_SOURCE[1]-}:${BASH_LINENO[0]-}"
	set +eux
	(($# >= 2)) || __ark_fatal "$__ark_loc" "log: usage: log LEVEL CODE MESSAGE..."
	local __ark_level=$1 __ark_code=$2 IFS=' '
	shift 2
	__ark_request log "$__ark_loc" "$__ark_level" "$__ark_code" "$*" >/dev/null
	case $? in
	0) return 0 ;;
	125) return 1 ;;
	*) __ark_die ;;
	esac
}

# logcmd LEVEL CODE COMMAND [ARGS...]: the command's output (stdout and
# stderr) goes straight to the engine, which logs it line by line; the
# status is the command's.
logcmd() {
	local - __ark_loc="${BASH_SOURCE[1]-}:${BASH_LINENO[0]-}"
	set +eux
	(($# >= 3)) || __ark_fatal "$__ark_loc" "logcmd: usage: logcmd LEVEL CODE COMMAND [ARGS...]"
	local __ark_fd __ark_reply __ark_st
	__ark_open logcmd || return 125
	__ark_line logcmd "$__ark_loc" "$1" "$2"
	printf '%s\n' "$__ark_msg" >&"$__ark_fd"
	IFS= read -r __ark_reply <&"$__ark_fd" || __ark_reply=125
	if [[ ${__ark_reply%%$'\t'*} != 0 ]]; then
		exec {__ark_fd}>&-
		[[ $__ark_reply == 125* ]] && return 125
		__ark_die
	fi
	shift 2
	"$@" >&"$__ark_fd" 2>&1 {__ark_fd}>&-
	__ark_st=$?
	# The end of the output: once the engine acknowledges it, every line
	# has been logged, before whatever the script logs next.
	printf '\001ARK-END-%s\n' "$__ark_token" >&"$__ark_fd"
	IFS= read -r __ark_reply <&"$__ark_fd"
	exec {__ark_fd}>&-
	return "$__ark_st"
}

# ark_state TAG: the state of resource TAG (ISP, ISU, OSU, OSF, UNKNOWN).
ark_state() {
	local - __ark_loc="${BASH_SOURCE[1]-}:${BASH_LINENO[0]-}" __ark_s
	set +eux
	(($# == 1)) || __ark_fatal "$__ark_loc" "ark_state: usage: ark_state TAG"
	__ark_s=$(__ark_request state "$__ark_loc" "$1")
	case $? in
	0) printf '%s\n' "$__ark_s" ;;
	125) return 1 ;;
	*) __ark_die ;;
	esac
}

# ins_list -t TAG [-f SEP]: LifeKeeper's ins_list, one line whose field 7
# is the state: ark, type, tag, id, "", "", state.
ins_list() {
	local - __ark_loc="${BASH_SOURCE[1]-}:${BASH_LINENO[0]-}"
	set +eux
	local __ark_tag= __ark_sep=$'\001' __ark_s __ark_type= __ark_id=
	local __ark_usage="ins_list: usage: ins_list -t TAG [-f SEP] (listing every resource is not supported)"
	while (($#)); do
		case $1 in
		-t) (($# >= 2)) || __ark_fatal "$__ark_loc" "$__ark_usage"; __ark_tag=$2; shift 2 ;;
		-f) (($# >= 2)) || __ark_fatal "$__ark_loc" "$__ark_usage"; __ark_sep=$2; shift 2 ;;
		*) __ark_fatal "$__ark_loc" "$__ark_usage" ;;
		esac
	done
	[[ -n $__ark_tag ]] || __ark_fatal "$__ark_loc" "$__ark_usage"
	__ark_s=$(__ark_request state "$__ark_loc" "$__ark_tag")
	case $? in
	0) ;;
	125) return 1 ;;
	*) __ark_die ;;
	esac
	if [[ $__ark_tag == "${TAG-}" ]]; then
		__ark_type=${RESOURCE_TYPE-} __ark_id=${ID-}
	fi
	printf '%s\n' "ark$__ark_sep$__ark_type$__ark_sep$__ark_tag$__ark_sep$__ark_id$__ark_sep$__ark_sep$__ark_sep$__ark_s"
}

if [[ -n ${BASH_ENV-} && -r $BASH_ENV ]]; then
	# shellcheck disable=SC1090
	. "$BASH_ENV"
fi
