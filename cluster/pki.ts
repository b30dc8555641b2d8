import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ADDRESSES, PKI_DIR } from "./paths";

/**
 * The certificates of the local control plane, made with openssl (Debian's, present on every machine of
 * this kind): one cluster CA, the API server's serving pair, an admin client in `system:masters` that every
 * local component and client uses, the front-proxy CA and client of the aggregation layer, and the
 * service-account signing pair. Kept in .cluster/pki; made once per `cluster up` from empty.
 */
export interface Pki {
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  adminCert: string;
  adminKey: string;
  frontProxyCaCert: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function file(name: string): string {
  return path.join(PKI_DIR, name);
}

function makeCa(name: string, subject: string): void {
  openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    file(`${name}.key`),
    "-out",
    file(`${name}.crt`),
    "-days",
    "3650",
    "-subj",
    subject,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ]);
}

function makeLeaf(name: string, ca: string, subject: string, extensions: string): void {
  const ext = file(`${name}.ext`);
  writeFileSync(ext, extensions);
  openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    file(`${name}.key`),
    "-out",
    file(`${name}.csr`),
    "-subj",
    subject,
  ]);
  openssl([
    "x509",
    "-req",
    "-in",
    file(`${name}.csr`),
    "-CA",
    file(`${ca}.crt`),
    "-CAkey",
    file(`${ca}.key`),
    "-CAcreateserial",
    "-out",
    file(`${name}.crt`),
    "-days",
    "3650",
    "-extfile",
    ext,
  ]);
}

/** Makes the certificates once; later calls return the paths of those already made. */
export function ensurePki(): Pki {
  const pki: Pki = {
    caCert: file("ca.crt"),
    caKey: file("ca.key"),
    apiserverCert: file("apiserver.crt"),
    apiserverKey: file("apiserver.key"),
    adminCert: file("admin.crt"),
    adminKey: file("admin.key"),
    frontProxyCaCert: file("front-proxy-ca.crt"),
    frontProxyClientCert: file("front-proxy-client.crt"),
    frontProxyClientKey: file("front-proxy-client.key"),
    serviceAccountKey: file("sa.key"),
    serviceAccountPub: file("sa.pub"),
  };
  if (existsSync(pki.serviceAccountPub)) return pki;
  mkdirSync(PKI_DIR, { recursive: true });
  makeCa("ca", "/CN=sonic-local-cluster-ca");
  const apiserverNames = [
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
    "IP:127.0.0.1",
    `IP:${ADDRESSES.apiserverAdvertise}`,
    "IP:10.96.0.1",
  ];
  makeLeaf(
    "apiserver",
    "ca",
    "/CN=kube-apiserver",
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${apiserverNames.join(",")}\n`,
  );
  makeLeaf(
    "admin",
    "ca",
    "/O=system:masters/CN=sonic-local-admin",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
  );
  makeCa("front-proxy-ca", "/CN=sonic-local-front-proxy-ca");
  makeLeaf(
    "front-proxy-client",
    "front-proxy-ca",
    "/CN=front-proxy-client",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
  );
  openssl(["genrsa", "-out", pki.serviceAccountKey, "2048"]);
  openssl(["rsa", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub]);
  return pki;
}
