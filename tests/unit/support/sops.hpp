#pragma once
// A realistic SOPS stanza (as `sops --encrypt --age ... --encrypted-regex '^(data|stringData)$'`
// writes it) and ciphertext values, for tests of what counts as encrypted.
#include <string>

namespace portcullis::test {

inline const std::string k_sops_value =
    "ENC[AES256_GCM,data:Tr7o8Jw=,iv:qW9PqFq1aV8Yc4bq0l1bQw==,tag:3c4bq0l1bQ7Zb3VvYt0+DI==,type:str]";

// The top-level `sops:` mapping, at the end of a document.
inline const std::string k_sops_stanza =
    "sops:\n"
    "  kms: []\n"
    "  age:\n"
    "    - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n"
    "      enc: |\n"
    "        -----BEGIN AGE ENCRYPTED FILE-----\n"
    "        YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBs\n"
    "        -----END AGE ENCRYPTED FILE-----\n"
    "  lastmodified: \"2026-11-30T10:00:00Z\"\n"
    "  mac: ENC[AES256_GCM,data:1Zb3VvYt0+DIqW9P,iv:qW9PqFq1aV8=,tag:3c4bq0l1bQ==,type:str]\n"
    "  encrypted_regex: ^(data|stringData)$\n"
    "  version: 3.8.1\n";

}  // namespace portcullis::test
