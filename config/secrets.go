package config

import (
	"fmt"
	"os"
	"strings"
)

// Environment variables that supply secrets the stored config leaves out.
// They are read by each process, so the secrets never reach the meta store.
const (
	EnvAccessKey = "LAKE_S3_ACCESS_KEY"
	EnvSecretKey = "LAKE_S3_SECRET_KEY"
	EnvAESPwd    = "LAKE_AES_PWD"
)

// Encrypted reports whether the config turns encryption at rest on.
func (c *Config) Encrypted() bool {
	return c.AESPwd != "" || c.AESPwdFile != "" || c.Encrypt
}

// Resolve returns the config this process runs with: c with the secrets it
// leaves out filled in from SecretKeyFile and AESPwdFile, or else from the
// environment (getenv, usually os.Getenv: EnvAccessKey, EnvSecretKey,
// EnvAESPwd). A secret written in the stored config wins. An encrypted
// config (Encrypted) for which no password can be found is ErrInvalid:
// writing plaintext instead would be a silent downgrade.
func (c *Config) Resolve(getenv func(string) string) (*Config, error) {
	r := *c
	if r.SecretKey == "" && r.SecretKeyFile != "" {
		secret, err := readSecret(r.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: secret_key_file: %v", ErrInvalid, err)
		}
		r.SecretKey = secret
	}
	if r.AESPwd == "" && r.AESPwdFile != "" {
		pwd, err := readSecret(r.AESPwdFile)
		if err != nil {
			return nil, fmt.Errorf("%w: aes_pwd_file: %v", ErrInvalid, err)
		}
		r.AESPwd = pwd
	}
	if r.StorageKind() == StorageS3 || r.StorageKind() == StorageOSS {
		if r.AccessKey == "" {
			r.AccessKey = getenv(EnvAccessKey)
		}
		if r.SecretKey == "" {
			r.SecretKey = getenv(EnvSecretKey)
		}
		if (r.AccessKey == "") != (r.SecretKey == "") {
			return nil, fmt.Errorf("%w: the access key and the secret key must both be given (in the config, secret_key_file, or %s and %s)",
				ErrInvalid, EnvAccessKey, EnvSecretKey)
		}
	}
	if r.Encrypt && r.AESPwd == "" {
		r.AESPwd = getenv(EnvAESPwd)
		if r.AESPwd == "" {
			return nil, fmt.Errorf("%w: the config turns encryption on but gives no password: set %s, or aes_pwd_file", ErrInvalid, EnvAESPwd)
		}
	}
	return &r, nil
}

// readSecret reads a secret file: its content without surrounding white
// space, which must not be empty.
func readSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}
