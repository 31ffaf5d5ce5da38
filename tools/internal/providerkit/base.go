// Package providerkit holds the parts of a Pulumi resource provider that do not
// depend on the resources it offers: plugin information, schema, provider
// configuration, cancellation, per-operation timeouts, property encoding and
// input diffs.
//
// The providers in this module stand in for official providers that cannot be
// downloaded here. They keep the official type tokens, property names and
// versions, so that the program and its generated SDKs load them unchanged.
package providerkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// ErrCanceled is the cause given to operations that stop because the engine
// asked the provider to cancel everything it is doing.
var ErrCanceled = errors.New("the operation was canceled by the engine")

// TimeoutError is the cause given to operations that run past the timeout the
// engine sent with the request (the program's customTimeouts option).
type TimeoutError struct {
	Operation string
	Limit     time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s timed out after %s", e.Operation, e.Limit)
}

// Base implements the resource-independent methods of the provider protocol.
// A provider embeds it and adds Check, Diff, Create, Read, Update and Delete.
type Base struct {
	pulumirpc.UnimplementedResourceProviderServer

	// Name is the package name, such as "command".
	Name string
	// Version is the plugin version reported to the engine, without a leading "v".
	Version string
	// Schema is the package schema in JSON form.
	Schema []byte
	// Host sends log messages to the engine. It is nil when the provider runs
	// outside the engine, for example in unit tests.
	Host *provider.HostClient

	stop     context.Context
	stopFunc context.CancelCauseFunc
}

// NewBase returns a Base ready for use.
func NewBase(host *provider.HostClient, name, version string, schema []byte) Base {
	stop, stopFunc := context.WithCancelCause(context.Background())
	return Base{Name: name, Version: version, Schema: schema, Host: host, stop: stop, stopFunc: stopFunc}
}

// GetPluginInfo reports the plugin version.
func (b *Base) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: b.Version}, nil
}

// GetSchema returns the package schema.
func (b *Base) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if req.GetSubpackageName() != "" {
		return nil, fmt.Errorf("the %s provider has no sub-package %q", b.Name, req.GetSubpackageName())
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b.Schema)}, nil
}

// CheckConfig accepts the provider configuration as given: neither provider
// has configuration of its own beyond the "version" the SDKs always send.
func (b *Base) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig reports no change, because no configuration value can make
// existing resources unmanageable.
func (b *Base) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// Configure reports the protocol features the provider supports: secrets,
// resource references and previews.
func (b *Base) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{
		AcceptSecrets:   true,
		AcceptResources: true,
		SupportsPreview: true,
	}, nil
}

// Cancel stops every operation that is running and every one that starts
// later. The engine calls it when the user interrupts a deployment.
func (b *Base) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	b.stopFunc(ErrCanceled)
	return &emptypb.Empty{}, nil
}

// OperationContext derives the context for one create, update, delete or
// invoke. It ends when the request ends, when the engine calls Cancel, or
// when timeoutSeconds (if above zero) have passed. Its context.Cause is then
// ErrCanceled or a *TimeoutError for the last two cases.
func (b *Base) OperationContext(
	ctx context.Context, operation string, timeoutSeconds float64,
) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stopWatch := context.AfterFunc(b.stop, func() { cancel(context.Cause(b.stop)) })
	cancelTimeout := func() {}
	if timeoutSeconds > 0 {
		limit := time.Duration(timeoutSeconds * float64(time.Second))
		ctx, cancelTimeout = context.WithTimeoutCause(ctx, limit, &TimeoutError{Operation: operation, Limit: limit})
	}
	return ctx, func() {
		cancelTimeout()
		stopWatch()
		cancel(nil)
	}
}

// LogStatus shows a transient message next to a resource in the engine's
// progress display. It does nothing without an engine.
func (b *Base) LogStatus(ctx context.Context, urn string, message string) {
	if b.Host == nil {
		return
	}
	// A lost status line must not fail the operation, so the error is dropped.
	_ = b.Host.LogStatus(ctx, diag.Info, resource.URN(urn), message)
}
