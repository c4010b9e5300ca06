package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/lua"
	"github.com/ark-ha/ark/sdk/ark"
)

func main() {
	for _, src := range os.Args[1:] {
		s := &interpreters.Script{Path: "/x/t.lua", Source: []byte(src), Lang: interpreters.LangLua}
		inv := &interpreters.Invocation{Env: map[string]string{"TAG": "t"}, Log: func(l ark.LogLine) { fmt.Println("LOG", l.Level, l.Code, l.Message) }}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		t := time.Now()
		out := lua.New().Run(ctx, s, inv)
		cancel()
		fmt.Printf("%q => %d %v (%s)\n", src, out.Status, out.Err, time.Since(t))
	}
}
