package engines

import (
	"fmt"
	"maps"
	"slices"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/lua"
	"github.com/ark-ha/ark/interpreters/sh"
	"github.com/ark-ha/ark/interpreters/starlark"
)

// All returns a new map of every registered engine by language. Engines
// are stateless and safe for concurrent use, so callers may keep the map.
func All() map[interpreters.Lang]interpreters.Engine {
	return map[interpreters.Lang]interpreters.Engine{
		interpreters.LangBash:       sh.New(),
		interpreters.LangSystemBash: sh.NewSystem(),
		interpreters.LangLua:        lua.New(),
		interpreters.LangStarlark:   starlark.New(),
	}
}

// Langs returns the registered languages, sorted.
func Langs() []interpreters.Lang {
	return slices.Sorted(maps.Keys(All()))
}

// For returns the engine of lang, or an error naming the languages there
// are.
func For(lang interpreters.Lang) (interpreters.Engine, error) {
	if eng, ok := All()[lang]; ok {
		return eng, nil
	}
	return nil, fmt.Errorf("no engine for language %q (have %v)", lang, Langs())
}
