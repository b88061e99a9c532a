//! Loopback chart sources for helm: a chart repository (`index.yaml` and
//! packaged charts over HTTP) and an OCI registry (the distribution API's pull
//! endpoints over TLS, with a self-signed certificate helm trusts through
//! `SSL_CERT_FILE`). Both count the requests they answer. Charts are packaged
//! with real `helm package`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A chart packaged by `helm package`: one ConfigMap naming its version.
pub struct Packaged {
    pub name: String,
    pub version: String,
    pub tgz: Vec<u8>,
}

/// Packages a chart `name` at `version` (a ConfigMap `<release>-<name>` whose `version` is the chart's).
pub fn package(name: &str, version: &str) -> Packaged {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join(name);
    fs::create_dir_all(dir.join("templates")).expect("chart folder");
    fs::write(dir.join("Chart.yaml"), format!("apiVersion: v2\nname: {name}\nversion: {version}\n"))
        .expect("Chart.yaml");
    fs::write(
        dir.join("templates/configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\ndata:\n  \
             chart: {name}\n  version: {{{{ .Chart.Version | quote }}}}\n"
        ),
    )
    .expect("template");
    let out = temp.path().join("out");
    let status = Command::new(super::tool("helm"))
        .env_clear()
        .env("HOME", temp.path())
        .args(["package", "--destination"])
        .arg(&out)
        .arg(&dir)
        .output()
        .expect("helm package");
    assert!(status.status.success(), "helm package: {}", String::from_utf8_lossy(&status.stderr));
    let tgz = fs::read(out.join(format!("{name}-{version}.tgz"))).expect("packaged chart");
    Packaged { name: name.into(), version: version.into(), tgz }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Requests answered, as `METHOD path`, in order.
#[derive(Clone, Default)]
pub struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("requests").clone()
    }

    /// How many requests' `METHOD path` contain `part`.
    pub fn count(&self, part: &str) -> usize {
        self.all().iter().filter(|r| r.contains(part)).count()
    }

    fn push(&self, request: String) {
        self.0.lock().expect("requests").push(request);
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn ok(content_type: &str, body: Vec<u8>) -> Response {
        Response { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body }
    }

    fn not_found() -> Response {
        Response {
            status: 404,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"errors":[{"code":"NOT_FOUND","message":"not found"}]}"#.to_vec(),
        }
    }
}

/// Reads one request (line and headers; no body) and writes the response, closing the connection.
fn serve_one(stream: &mut (impl Read + Write), requests: &Requests, answer: &dyn Fn(&str) -> Response) {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    drop(reader);
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    requests.push(format!("{method} {path}"));
    let response = answer(&path);
    let reason = if response.status == 200 { "OK" } else { "Not Found" };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(&response.body);
    }
    let _ = stream.flush();
}

/// A chart repository on loopback (plain HTTP): `/index.yaml` and `/<name>-<version>.tgz`.
pub struct ChartRepo {
    pub url: String,
    pub requests: Requests,
    charts: Arc<Mutex<Vec<Packaged>>>,
}

impl ChartRepo {
    pub fn start(charts: Vec<Packaged>) -> ChartRepo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://127.0.0.1:{}/charts", listener.local_addr().expect("address").port());
        let requests = Requests::default();
        let charts = Arc::new(Mutex::new(charts));
        let (shared, seen, base) = (charts.clone(), requests.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (shared, seen, base) = (shared.clone(), seen.clone(), base.clone());
                std::thread::spawn(move || {
                    let answer = |path: &str| {
                        let charts = shared.lock().expect("charts");
                        if path == "/charts/index.yaml" {
                            return Response::ok("application/yaml", index_yaml(&base, &charts).into_bytes());
                        }
                        charts
                            .iter()
                            .find(|c| path == format!("/charts/{}-{}.tgz", c.name, c.version))
                            .map_or_else(Response::not_found, |c| Response::ok("application/gzip", c.tgz.clone()))
                    };
                    serve_one(&mut stream, &seen, &answer);
                });
            }
        });
        ChartRepo { url, requests, charts }
    }

    /// Publishes another chart version.
    pub fn add(&self, chart: Packaged) {
        self.charts.lock().expect("charts").push(chart);
    }
}

fn index_yaml(base: &str, charts: &[Packaged]) -> String {
    let mut entries: BTreeMap<&str, Vec<&Packaged>> = BTreeMap::new();
    for chart in charts {
        entries.entry(&chart.name).or_default().push(chart);
    }
    let mut text = String::from("apiVersion: v1\nentries:\n");
    for (name, versions) in entries {
        text.push_str(&format!("  {name}:\n"));
        for chart in versions {
            text.push_str(&format!(
                "  - apiVersion: v2\n    name: {name}\n    version: {}\n    digest: {}\n    created: \"2026-01-01T00:00:00Z\"\n    urls:\n    - {base}/{name}-{}.tgz\n",
                chart.version,
                sha256_hex(&chart.tgz),
                chart.version
            ));
        }
    }
    text.push_str("generated: \"2026-01-01T00:00:00Z\"\n");
    text
}

/// An OCI registry on loopback over TLS, serving `charts/<name>:<version>`.
pub struct OciRegistry {
    /// `oci://127.0.0.1:<port>/charts`
    pub url: String,
    pub requests: Requests,
    /// The self-signed certificate to trust (`SSL_CERT_FILE`).
    pub ca_file: PathBuf,
    _temp: tempfile::TempDir,
}

impl OciRegistry {
    pub fn start(charts: Vec<Packaged>) -> OciRegistry {
        let temp = tempfile::tempdir().expect("temp");
        let (cert, key) = (temp.path().join("cert.pem"), temp.path().join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
        let config = tls_config(&cert, &key);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("oci://127.0.0.1:{}/charts", listener.local_addr().expect("address").port());
        let requests = Requests::default();
        let blobs = Arc::new(oci_blobs(&charts));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                let (config, seen, blobs) = (config.clone(), seen.clone(), blobs.clone());
                std::thread::spawn(move || {
                    let Ok(connection) = rustls::ServerConnection::new(config) else { return };
                    let mut tls = rustls::StreamOwned::new(connection, tcp);
                    serve_one(&mut tls, &seen, &|path| oci_answer(&blobs, path));
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        OciRegistry { url, requests, ca_file: cert, _temp: temp }
    }
}

fn tls_config(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_file(cert).expect("certificate")];
    let key = PrivateKeyDer::from_pem_file(key).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("TLS configuration");
    Arc::new(config)
}

/// Every blob and manifest, by digest, with tags: (repository, tag) → manifest digest.
struct OciBlobs {
    blobs: BTreeMap<String, (String, Vec<u8>)>,
    tags: BTreeMap<(String, String), String>,
}

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

fn oci_blobs(charts: &[Packaged]) -> OciBlobs {
    let mut blobs = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for chart in charts {
        let config =
            format!(r#"{{"apiVersion":"v2","name":"{}","version":"{}"}}"#, chart.name, chart.version).into_bytes();
        let config_digest = format!("sha256:{}", sha256_hex(&config));
        let layer_digest = format!("sha256:{}", sha256_hex(&chart.tgz));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer_digest, "size": chart.tgz.len()}],
        })
        .to_string()
        .into_bytes();
        let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
        blobs.insert(config_digest, ("application/vnd.cncf.helm.config.v1+json".to_owned(), config));
        blobs.insert(
            layer_digest,
            ("application/vnd.cncf.helm.chart.content.v1.tar+gzip".to_owned(), chart.tgz.clone()),
        );
        blobs.insert(manifest_digest.clone(), (MANIFEST_TYPE.to_owned(), manifest));
        tags.insert((format!("charts/{}", chart.name), chart.version.clone()), manifest_digest);
    }
    OciBlobs { blobs, tags }
}

fn oci_answer(oci: &OciBlobs, path: &str) -> Response {
    let path = path.split('?').next().unwrap_or_default();
    if path == "/v2/" || path == "/v2" {
        return Response::ok("application/json", b"{}".to_vec());
    }
    let Some(rest) = path.strip_prefix("/v2/") else { return Response::not_found() };
    let with_digest = |digest: &str, (media, bytes): &(String, Vec<u8>)| {
        let mut response = Response::ok(media, bytes.clone());
        response.headers.push(("Docker-Content-Digest".into(), digest.to_owned()));
        response
    };
    if let Some((repository, reference)) = rest.split_once("/manifests/") {
        let digest = if reference.starts_with("sha256:") {
            reference.to_owned()
        } else {
            match oci.tags.get(&(repository.to_owned(), reference.to_owned())) {
                Some(digest) => digest.clone(),
                None => return Response::not_found(),
            }
        };
        return oci.blobs.get(&digest).map_or_else(Response::not_found, |blob| with_digest(&digest, blob));
    }
    if let Some((_, digest)) = rest.split_once("/blobs/") {
        return oci.blobs.get(digest).map_or_else(Response::not_found, |blob| with_digest(digest, blob));
    }
    if let Some(repository) = rest.strip_suffix("/tags/list") {
        let tags: Vec<&String> = oci.tags.keys().filter(|(r, _)| r == repository).map(|(_, t)| t).collect();
        if tags.is_empty() {
            return Response::not_found();
        }
        let body = serde_json::json!({"name": repository, "tags": tags}).to_string().into_bytes();
        return Response::ok("application/json", body);
    }
    Response::not_found()
}
