package ark

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Values of ARK_EVENT: why a restore runs (CLUSTERPRO's ARMS_EVENT).
const (
	EventStart    = "START"
	EventFailover = "FAILOVER"
	EventRecover  = "RECOVER"
)

// Values of ARK_FACTOR: why a remove runs (CLUSTERPRO's ARMS_FACTOR).
const (
	FactorClusterShutdown = "CLUSTERSHUTDOWN"
	FactorServerShutdown  = "SERVERSHUTDOWN"
	FactorNodeLeave       = "NODELEAVE"
	FactorGroupStop       = "GROUPSTOP"
	FactorGroupMove       = "GROUPMOVE"
	FactorGroupFailover   = "GROUPFAILOVER"
	FactorGroupRestart    = "GROUPRESTART"
)

// Values of ARK_SERVER and ARK_DISK.
const (
	ServerHome   = "HOME"
	ServerOther  = "OTHER"
	DiskSuccess  = "SUCCESS"
	DiskFailure  = "FAILURE"
	ParamEnvPrfx = "PARAM_"
)

// EnvSpec is the information the script environment of DESIGN §4 is
// built from. The host fills it for every action; test harnesses fill it
// with plausible values.
type EnvSpec struct {
	Tag, ID      string
	Action       Action
	ResourceType string
	Node         string
	Cluster      string
	Event        string // ARK_EVENT (START, FAILOVER, RECOVER)
	Factor       string // ARK_FACTOR (removes only)
	Server       string // HOME or OTHER
	Priority     int
	Group        string
	Disk         string // SUCCESS or FAILURE
}

// Environ returns the environment variables of DESIGN §4, including the
// CLUSTERPRO names ARMS_* and CLP_* for existing scripts. Params are not
// included: the ARK adds them as PARAM_<NAME> (see ParamEnv).
func (s EnvSpec) Environ() map[string]string {
	env := map[string]string{
		"TAG":           s.Tag,
		"ID":            s.ID,
		"ACTION":        string(s.Action),
		"RESOURCE_TYPE": s.ResourceType,
		"NODE":          s.Node,
		"CLUSTER":       s.Cluster,
	}
	compat := map[string]string{
		"EVENT":    s.Event,
		"FACTOR":   s.Factor,
		"SERVER":   s.Server,
		"PRIORITY": "",
		"GROUP":    s.Group,
		"DISK":     s.Disk,
	}
	if s.Priority > 0 {
		compat["PRIORITY"] = strconv.Itoa(s.Priority)
	}
	for k, v := range compat {
		if v == "" {
			continue
		}
		env["ARK_"+k] = v
		old := k
		if k == "GROUP" {
			old = "GROUPNAME" // CLUSTERPRO spells it ARMS_GROUPNAME
		}
		env["ARMS_"+old] = v
		env["CLP_"+old] = v
	}
	return env
}

// ParamEnv returns PARAM_<NAME> variables for params: the name upper-cased
// with every character outside [A-Z0-9_] replaced by '_'.
func ParamEnv(params map[string]string) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		out[ParamEnvPrfx+envName(k)] = v
	}
	return out
}

func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ParseLevel parses a script log level: LK_DEBUG, LK_INFO, LK_WARN,
// LK_ERROR (LifeKeeper's names), or debug, info, warn(ing), error in any
// case. LK_FATAL and fatal map to error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimPrefix(strings.ToUpper(s), "LK_")) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "fatal":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("unknown log level %q (want LK_DEBUG, LK_INFO, LK_WARN or LK_ERROR)", s)
}
