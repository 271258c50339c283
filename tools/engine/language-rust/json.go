package main

import "encoding/json"

// jsonObject is PULUMI_CONFIG: the stack's config as one JSON object of strings.
func jsonObject(values map[string]string) (string, error) {
	if values == nil {
		values = map[string]string{}
	}
	out, err := json.Marshal(values)
	return string(out), err
}

// jsonArray is PULUMI_CONFIG_SECRET_KEYS: the keys whose values are secret.
func jsonArray(values []string) (string, error) {
	if values == nil {
		values = []string{}
	}
	out, err := json.Marshal(values)
	return string(out), err
}
