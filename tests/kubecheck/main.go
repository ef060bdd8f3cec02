// Command kubecheck checks Kubernetes manifests against the API's own Go
// types (k8s.io/api), with no cluster and no network: the test peer that
// tests/deploy.rs runs over deploy/kubernetes/.
//
//	kubecheck FILE...   check every YAML document of every FILE; exit 0 when
//	                    all are valid, 1 with one line per problem otherwise
//	kubecheck -version  print the pinned k8s.io/api version and exit
//
// Why this and not kubeconform: kubeconform needs the JSON schemas of the
// API, downloaded from GitHub at run time (or vendored, ~100 MB); the Go
// module proxy is the only network the test set-up relies on. The typed
// objects of k8s.io/api are the source those schemas are generated from.
//
// Each document is decoded strictly (sigs.k8s.io/yaml.UnmarshalStrict: an
// unknown or duplicated field is an error, so is a value of the wrong type,
// and quantities such as "64Mi" must parse) into the Go type registered for
// its apiVersion and kind; a kind this program does not know is an error,
// never a pass. On top of the schema, a few checks the API server would make
// on create: metadata.name is set, a workload's selector matches its pod
// template's labels, and every container has a name and an image.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// apiVersion is the pinned k8s.io/api module version (go.mod), printed by -version.
const apiVersion = "k8s.io/api v0.35.4"

func main() {
	version := flag.Bool("version", false, "print the k8s.io/api version and exit")
	flag.Parse()
	if *version {
		fmt.Printf("kubecheck (%s)\n", apiVersion)
		return
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: kubecheck FILE...")
		os.Exit(2)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			fmt.Fprintf(os.Stderr, "kubecheck: building the scheme: %v\n", err)
			os.Exit(2)
		}
	}
	failed := false
	for _, path := range flag.Args() {
		if err := checkFile(scheme, path); err != nil {
			failed = true
			fmt.Fprintln(os.Stderr, err)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// checkFile checks every document of one file; the error lists all the bad ones.
func checkFile(scheme *runtime.Scheme, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var errs []error
	for index := 1; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", path, index, err)
		}
		if isEmpty(doc) {
			continue
		}
		summary, err := checkDocument(scheme, doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", path, index, err))
			continue
		}
		fmt.Printf("%s: document %d: %s ok\n", path, index, summary)
	}
	return errors.Join(errs...)
}

// isEmpty is true for a document holding only comments and blank lines.
func isEmpty(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}

func checkDocument(scheme *runtime.Scheme, doc []byte) (string, error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return "", err
	}
	if meta.APIVersion == "" || meta.Kind == "" {
		return "", errors.New("apiVersion and kind are required")
	}
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil {
		return "", err
	}
	gvk := gv.WithKind(meta.Kind)
	obj, err := scheme.New(gvk)
	if err != nil {
		return "", fmt.Errorf("unknown kind %s %s (known: the core, apps, policy and autoscaling/v2 groups)", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return "", fmt.Errorf("%s %s: %w", meta.APIVersion, meta.Kind, err)
	}
	accessor, ok := obj.(metav1.Object)
	if !ok || accessor.GetName() == "" {
		return "", fmt.Errorf("%s %s: metadata.name is required", meta.APIVersion, meta.Kind)
	}
	what := fmt.Sprintf("%s %s %s", meta.APIVersion, meta.Kind, accessor.GetName())
	if err := checkSemantics(obj); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return what, nil
}

// checkSemantics: what the API server would refuse although the schema allows it.
func checkSemantics(obj runtime.Object) error {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return checkWorkload(o.Spec.Selector, &o.Spec.Template)
	case *appsv1.DaemonSet:
		return checkWorkload(o.Spec.Selector, &o.Spec.Template)
	case *appsv1.StatefulSet:
		return checkWorkload(o.Spec.Selector, &o.Spec.Template)
	case *corev1.Service:
		if len(o.Spec.Ports) == 0 {
			return errors.New("spec.ports is empty")
		}
	}
	return nil
}

func checkWorkload(selector *metav1.LabelSelector, template *corev1.PodTemplateSpec) error {
	if selector == nil {
		return errors.New("spec.selector is required")
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return fmt.Errorf("spec.selector: %w", err)
	}
	if sel.Empty() || !sel.Matches(labels.Set(template.Labels)) {
		return fmt.Errorf("spec.selector %v does not match the pod template's labels %v", sel, template.Labels)
	}
	if len(template.Spec.Containers) == 0 {
		return errors.New("the pod template has no containers")
	}
	for i, c := range template.Spec.Containers {
		if c.Name == "" || c.Image == "" {
			return fmt.Errorf("containers[%d]: name and image are required", i)
		}
	}
	return nil
}
