package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// Engine operations.
const (
	opUp      = "up"
	opRefresh = "refresh"
	opDestroy = "destroy"
)

// Bounds of the engine operations. A fresh `up` boots four nodes and starts 20 units in
// about a minute on 2 cores, and each unit command may wait up to the stack's
// unitTimeoutSeconds (180 s in the local stack) for its unit.
const (
	upLimit      = 6 * time.Minute
	changeLimit  = 2 * time.Minute
	destroyLimit = 4 * time.Minute
)

// commandType is the type token of the commands that do the farm's work.
const commandType = "command:local:Command"

// step is one step of an operation as the engine's events report it. The start and
// finish are the times the test received the step's events, which the CLI streams to
// the Automation API over a local gRPC connection as it emits them. The events' own
// timestamps are whole seconds, too coarse for the durations of the steps.
type step struct {
	op     string
	urn    string
	typ    string
	start  time.Time
	finish time.Time
	// done records that the step finished, and failed that it failed.
	done   bool
	failed bool
	// logs are the lines that the step's command printed, as the engine's diagnostic
	// events carried them.
	logs []string
}

// messages returns the lines that the step's command printed.
func (s *step) messages() string {
	return strings.Join(s.logs, "\n")
}

// name returns the resource name at the end of the step's URN.
func (s *step) name() string {
	return s.urn[strings.LastIndex(s.urn, "::")+2:]
}

// duration returns how long the step took, or zero when it did not finish or there is
// no step.
func (s *step) duration() time.Duration {
	if s == nil || !s.done {
		return 0
	}
	return s.finish.Sub(s.start)
}

func (s *step) String() string {
	return s.op + " " + s.name()
}

// runsCommand reports whether the step ran one of the farm's commands: a create,
// update or delete of a command resource. A replacement shows as several steps, and
// each of them counts. A same step runs nothing, and neither does a read or a refresh,
// since the command provider returns the outputs it recorded without running anything.
func (s *step) runsCommand() bool {
	if s.typ != commandType {
		return false
	}
	switch apitype.OpType(s.op) {
	case apitype.OpSame, apitype.OpRead, apitype.OpRefresh:
		return false
	}
	return true
}

// outcome is what one operation reported.
type outcome struct {
	// steps are the engine's steps in the order it started them.
	steps []*step
	// summary counts the resources by operation.
	summary map[string]int
	// output is the engine's progress output.
	output string
	// wall is the time from the Automation API call until it returned.
	wall time.Duration
}

// changes returns every step that is not same, read or refresh.
func (o outcome) changes() []*step {
	var out []*step
	for _, s := range o.steps {
		switch apitype.OpType(s.op) {
		case apitype.OpSame, apitype.OpRead, apitype.OpRefresh:
		default:
			out = append(out, s)
		}
	}
	return out
}

// commands returns the steps that ran a command.
func (o outcome) commands() []*step {
	var out []*step
	for _, s := range o.steps {
		if s.runsCommand() {
			out = append(out, s)
		}
	}
	return out
}

// find returns the step of the named resource, or nil.
func (o outcome) find(name string) *step {
	for _, s := range o.steps {
		if s.name() == name {
			return s
		}
	}
	return nil
}

// summaryText formats the summary in a stable order.
func (o outcome) summaryText() string {
	ops := make([]string, 0, len(o.summary))
	for op, n := range o.summary {
		ops = append(ops, fmt.Sprintf("%s=%d", op, n))
	}
	sort.Strings(ops)
	return strings.Join(ops, " ")
}

// changedSummary returns the summary without the same count.
func (o outcome) changedSummary() map[string]int {
	out := map[string]int{}
	for op, n := range o.summary {
		if op != string(apitype.OpSame) && n != 0 {
			out[op] = n
		}
	}
	return out
}

// tail returns the last lines of the engine's output, for failure messages.
func (o outcome) tail() string {
	return lastLines(o.output, 150)
}

// lastLines returns the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stepsText lists steps one a line, for messages.
func stepsText(steps []*step) string {
	if len(steps) == 0 {
		return "(none)"
	}
	lines := make([]string, len(steps))
	for i, s := range steps {
		lines[i] = "  " + s.String()
	}
	return strings.Join(lines, "\n")
}

// slowest lists the n steps that took longest, with their durations, for logs.
func slowest(o outcome, n int) string {
	steps := slices.Clone(o.steps)
	slices.SortFunc(steps, func(a, b *step) int { return cmp.Compare(b.duration(), a.duration()) })
	var lines []string
	for _, s := range steps[:min(n, len(steps))] {
		lines = append(lines, fmt.Sprintf("  %s %s", s.duration().Round(time.Millisecond), s))
	}
	return strings.Join(lines, "\n")
}

// recorder stamps the engine's events with the time they arrive.
type recorder struct {
	mu    sync.Mutex
	steps []*step
	byURN map[string]*step
}

func (r *recorder) read(ch <-chan events.EngineEvent, done chan<- struct{}) {
	defer close(done)
	for e := range ch {
		now := time.Now()
		r.mu.Lock()
		switch {
		case e.ResourcePreEvent != nil:
			m := e.ResourcePreEvent.Metadata
			s := &step{op: string(m.Op), urn: m.URN, typ: m.Type, start: now}
			r.steps = append(r.steps, s)
			r.byURN[m.URN] = s
		case e.ResOutputsEvent != nil:
			if s := r.byURN[e.ResOutputsEvent.Metadata.URN]; s != nil {
				s.finish = now
				s.done = true
			}
		case e.DiagnosticEvent != nil:
			if s := r.byURN[e.DiagnosticEvent.URN]; s != nil {
				s.logs = append(s.logs, strings.TrimRight(e.DiagnosticEvent.Message, "\n"))
			}
		case e.ResOpFailedEvent != nil:
			if s := r.byURN[e.ResOpFailedEvent.Metadata.URN]; s != nil {
				s.finish = now
				s.failed = true
			}
		}
		r.mu.Unlock()
	}
}

// run runs an operation and fails the test when it fails.
func (f *farm) run(tb testing.TB, op string, limit time.Duration) outcome {
	tb.Helper()
	o, err := f.tryRun(tb, op, limit)
	if err != nil {
		tb.Fatalf("%s of the %s stack failed: %v", op, stackName, err)
	}
	return o
}

// tryRun runs up, refresh or destroy through the Automation API within limit, with the
// engine's events, and returns what the engine reported. The error carries the end of
// the engine's output.
func (f *farm) tryRun(tb testing.TB, op string, limit time.Duration) (outcome, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	ch := make(chan events.EngineEvent)
	done := make(chan struct{})
	rec := &recorder{byURN: map[string]*step{}}
	go rec.read(ch, done)

	var progress bytes.Buffer
	var changes map[string]int
	var err error
	start := time.Now()
	switch op {
	case opUp:
		var res auto.UpResult
		res, err = f.stack.Up(ctx, optup.EventStreams(ch), optup.ProgressStreams(&progress))
		changes = summaryOf(res.Summary)
	case opRefresh:
		var res auto.RefreshResult
		res, err = f.stack.Refresh(ctx, optrefresh.EventStreams(ch), optrefresh.ProgressStreams(&progress))
		changes = summaryOf(res.Summary)
	case opDestroy:
		var res auto.DestroyResult
		res, err = f.stack.Destroy(ctx, optdestroy.EventStreams(ch), optdestroy.ProgressStreams(&progress))
		changes = summaryOf(res.Summary)
	default:
		tb.Fatalf("unknown engine operation %q", op)
	}
	wall := time.Since(start)
	// The Automation API closes the event channel when the CLI's event stream ends. A
	// CLI that failed before it opened the stream leaves the channel open, so the
	// channel is closed here after a while.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(ch)
		<-done
	}

	o := outcome{steps: rec.steps, summary: changes, output: progress.String(), wall: wall}
	if err != nil {
		return o, fmt.Errorf("%w (after %s)\nthe end of the engine's output:\n%s", err, wall.Round(time.Millisecond), o.tail())
	}
	tb.Logf("%s took %s: %s", op, wall.Round(time.Millisecond), o.summaryText())
	return o, nil
}

// summaryOf returns the engine's count of resources by operation.
func summaryOf(s auto.UpdateSummary) map[string]int {
	out := map[string]int{}
	if s.ResourceChanges != nil {
		for op, n := range *s.ResourceChanges {
			out[op] = n
		}
	}
	return out
}

// deployment returns the stack's state: every resource with its parent, provider and
// dependencies.
func (f *farm) deployment() (apitype.DeploymentV3, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	exported, err := f.stack.Export(ctx)
	if err != nil {
		return apitype.DeploymentV3{}, err
	}
	var d apitype.DeploymentV3
	if len(exported.Deployment) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(exported.Deployment, &d); err != nil {
		return d, fmt.Errorf("cannot read the exported state: %w", err)
	}
	return d, nil
}

// resourceCount returns the number of resources in the stack's state.
func (f *farm) resourceCount() (int, error) {
	d, err := f.deployment()
	if err != nil {
		return 0, err
	}
	return len(d.Resources), nil
}

// outputs returns the stack's outputs, decoded from JSON into out.
func (f *farm) outputs(tb testing.TB, out any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	values, err := f.stack.Outputs(ctx)
	if err != nil {
		tb.Fatalf("cannot read the outputs of the %s stack: %v", stackName, err)
	}
	plain := map[string]any{}
	for name, v := range values {
		if !v.Secret {
			plain[name] = v.Value
		}
	}
	data, err := json.Marshal(plain)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		tb.Fatalf("the outputs of the %s stack have an unexpected form: %v\n%s", stackName, err, data)
	}
}

// farmOutputs are the stack outputs that the tests read.
type farmOutputs struct {
	URL       string                `json:"stfUrl"`
	DBAddress string                `json:"dbAddress"`
	Machines  []machineOutput       `json:"machines"`
	Units     map[string]unitOutput `json:"units"`
}

type machineOutput struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Index   int      `json:"index"`
	Roles   []string `json:"roles"`
}

type unitOutput struct {
	Candidates []string `json:"candidates"`
	Placement  []string `json:"placement"`
}
