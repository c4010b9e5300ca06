package main

import (
	"github.com/ark-ha/ark/plugins/internal/fakeark"
	"github.com/ark-ha/ark/sdk"
)

func main() { sdk.Serve(fakeark.Type{}) }
