package main

import "github.com/ark-ha/ark/sdk"

func main() { sdk.Serve(New()) }
