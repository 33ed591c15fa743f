#!/usr/bin/env python3
# hsm_kat_vector.py: how the known answer in hsm_kat_test.c was computed,
# from hsm/DESIGN.md alone (format 1) and with Python's "cryptography", an
# encoder that shares no code with hsm/.  Not run by the tests; run it to
# print the vector again after a deliberate change of the format.
import struct
import textwrap

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

kek = bytes(range(0x00, 0x20))
dek = bytes(range(0x80, 0xa0))
iv = bytes.fromhex("cafebabefacedbaddecaf888")
secret_uuid = b"1b4e28ba-2fa1-4d2e-883f-0016d3cca427"
version_id = b"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa1"
kek_label = b"coffer-kat-kek"
plaintext = b"correct horse battery staple"

# "coffer-envelope", u32 format, then three u16-prefixed fields, big-endian.
aad = b"coffer-envelope" + struct.pack(">I", 1)
for field in (secret_uuid, version_id, kek_label):
    aad += struct.pack(">H", len(field)) + field

wrapped_dek = aes_key_wrap_with_padding(kek, dek)      # RFC 5649
ciphertext = AESGCM(dek).encrypt(iv, plaintext, aad)   # tag appended


def c_array(name, data):
    body = ", ".join("0x%02x" % b for b in data)
    print("static const uint8_t %s[%d] = {" % (name, len(data)))
    for line in textwrap.wrap(body, 64):
        print("\t" + line)
    print("};")


c_array("kat_aad", aad)
c_array("kat_wrapped_dek", wrapped_dek)
c_array("kat_ciphertext", ciphertext)
