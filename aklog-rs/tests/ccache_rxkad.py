#!/usr/bin/env python3
"""Independent reference for the aklog tests: read a service ticket from an
MIT FILE: credentials cache (format version 4) and compute the rxkad session
key with rxkad-kdf (draft-kaduk-afs3-rxkad-k5-kdf) using only the Python
standard library (hmac, hashlib). Shares no code with aklog or libkrb5.

Keys are treated as OpenAFS's tkt_DeriveDesKey treats them: single DES
(enctypes 1, 2, 3) used as it is; triple DES (5, 7, 16) stripped of its
parity bits (the inverse of RFC 3961's des3 random-to-key, 24 -> 21 bytes)
and then rxkad-kdf; anything else rxkad-kdf.

usage: ccache_rxkad.py CCACHE_PATH SERVICE_PRINCIPAL
   or: ccache_rxkad.py --kdf HEXKEY [ENCTYPE]
   or: ccache_rxkad.py --des3-material HEXKEY
prints JSON: enctype, key, ticket, endtime, rxkad_key, raw_kdf_key (the
rxkad-kdf of the key bytes as they are, which is right only for non-DES
keys), and for triple DES des3_material (hex strings)
"""
import hashlib
import hmac
import json
import struct
import sys

WEAK = {bytes.fromhex(k) for k in """
0101010101010101 fefefefefefefefe 1f1f1f1f0e0e0e0e e0e0e0e0f1f1f1f1
01fe01fe01fe01fe fe01fe01fe01fe01 1fe01fe00ef10ef1 e01fe01ff10ef10e
01e001e001f101f1 e001e001f101f101 1ffe1ffe0efe0efe fe1ffe1ffe0efe0e
011f011f010e010e 1f011f010e010e01 e0fee0fef1fef1fe fee0fee0fef1fef1""".split()}


def parity(b):
    out = bytearray()
    for x in b:
        high = x & 0xFE
        out.append(high | (0 if bin(high).count("1") % 2 else 1))
    return bytes(out)


def rxkad_kdf(key):
    for i in range(1, 256):
        msg = bytes([i]) + b"rxkad\0" + struct.pack(">I", 64)
        cand = parity(hmac.new(key, msg, hashlib.md5).digest()[:8])
        if cand not in WEAK:
            return cand
    raise SystemExit("no non-weak key")


DES_ENCTYPES = (1, 2, 3)
DES3_ENCTYPES = (5, 7, 16)


def des3_random_to_key(material):
    """RFC 3961 section 6.3.1, forwards: 7 random bytes -> one 8-byte DES key.
    The low bit of random byte i goes to bit i+1 of byte 8; bit 0 of every
    byte becomes odd parity."""
    assert len(material) == 7
    eighth = sum((material[i] & 1) << (i + 1) for i in range(7))
    return parity(bytes(material) + bytes([eighth]))


def des3_material(key):
    """The inverse, block by block: 8 key bytes -> the 7 random bytes."""
    if len(key) == 0 or len(key) % 8:
        raise SystemExit("a triple-DES key of %d bytes" % len(key))
    out = b""
    for start in range(0, len(key), 8):
        block = key[start:start + 8]
        low_bits = [(block[7] >> (i + 1)) & 1 for i in range(7)]
        material = bytes((block[i] & 0xFE) | low_bits[i] for i in range(7))
        # Check the inverse by going forwards again (exact when the key
        # carries correct DES parity, as every key a KDC issues does).
        if parity(block) == block and des3_random_to_key(material) != block:
            raise SystemExit("des3 inverse failed on %s" % block.hex())
        out += material
    return out


def rxkad_key(enctype, key):
    if enctype in DES_ENCTYPES:
        return key
    if enctype in DES3_ENCTYPES:
        return rxkad_kdf(des3_material(key))
    return rxkad_kdf(key)


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        out = self.data[self.at:self.at + n]
        if len(out) != n:
            raise EOFError
        self.at += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def data_(self):
        return self.take(self.u32())

    def principal(self):
        self.u32()  # name type
        count = self.u32()
        realm = self.data_().decode()
        parts = [self.data_().decode() for _ in range(count)]
        return "/".join(parts) + "@" + realm


def find(path, service):
    r = Reader(open(path, "rb").read())
    if r.u16() != 0x0504:
        raise SystemExit("not a version 4 FILE ccache")
    r.take(r.u16())  # header tags
    r.principal()  # default principal
    found = None
    while r.at < len(r.data):
        r.principal()  # client
        server = r.principal()
        enctype = r.u16()
        key = r.data_()
        _auth, _start, end, _renew = (r.u32() for _ in range(4))
        r.u8()  # is_skey
        r.u32()  # flags
        for _ in range(r.u32()):
            r.u16(); r.data_()
        for _ in range(r.u32()):
            r.u16(); r.data_()
        ticket = r.data_()
        r.data_()  # second ticket
        if server == service:
            found = dict(enctype=enctype, key=key.hex(), ticket=ticket.hex(), endtime=end,
                         rxkad_key=rxkad_key(enctype, key).hex(), raw_kdf_key=rxkad_kdf(key).hex())
            if enctype in DES3_ENCTYPES:
                found["des3_material"] = des3_material(key).hex()
    if found is None:
        raise SystemExit("no ticket for %s in %s" % (service, path))
    return found


if __name__ == "__main__":
    if sys.argv[1] == "--kdf":
        enctype = int(sys.argv[3]) if len(sys.argv) > 3 else 18
        print(json.dumps(dict(rxkad_key=rxkad_key(enctype, bytes.fromhex(sys.argv[2])).hex())))
    elif sys.argv[1] == "--des3-material":
        print(json.dumps(dict(des3_material=des3_material(bytes.fromhex(sys.argv[2])).hex())))
    else:
        print(json.dumps(find(sys.argv[1], sys.argv[2])))
