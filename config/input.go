package config

import (
	"bytes"
	"fmt"

	"github.com/hkloudou/lake/v2/internal/jsontext"
)

// RedactedMarker is what Redacted puts in place of a secret.
const RedactedMarker = "***"

// ParseInput is Parse for a config handed in by a person or a program (the
// HTTP API, the lake command). Beyond Parse it refuses:
//   - text that is not valid UTF-8, or holds a \u escape of half a
//     character: decoding would quietly turn it into U+FFFD, so a path,
//     bucket or password would not be the one sent;
//   - null: there is nothing to store;
//   - the redaction marker "***" as a secret: it is what a redacted config
//     shows, and storing it back would replace the real secret (an aes_pwd
//     of "***" would even be accepted and encrypt new bodies with it).
func ParseInput(data []byte) (*Config, error) {
	if !jsontext.Valid(data) {
		return nil, fmt.Errorf(`%w: the config is not valid UTF-8 (or holds a \u escape of half a character)`, ErrInvalid)
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, fmt.Errorf(`%w: the config is null: give a JSON object that names a storage`, ErrInvalid)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]string{"secret_key": cfg.SecretKey, "aes_pwd": cfg.AESPwd} {
		if v == RedactedMarker {
			return nil, fmt.Errorf(`%w: %s is %q, the marker of a redacted secret: give the real value`, ErrInvalid, name, RedactedMarker)
		}
	}
	return cfg, nil
}
