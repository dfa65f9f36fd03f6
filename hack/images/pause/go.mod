module gitops-operator.dev/hack/images/pause

go 1.22
