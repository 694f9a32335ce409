//! What stands between tollgate and a reference server in a real deployment, on 127.0.0.1:
//! certificates made for the test ([`Pki`]), a TLS terminator that may ask for a client
//! certificate ([`Front::tls`]), a plain front that notes which protocol each connection
//! opened with ([`Front::plain`]), and a forward proxy ([`Proxy`]). Each forwards the bytes
//! to the server unchanged (the reference server speaks HTTP/1.1 and h2c on one port), and
//! each records what it saw, for the test to assert on.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A private CA, and certificates it issues (server ones for names, client ones).
pub struct Pki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A certificate and its private key, in PEM.
pub struct Issued {
    pub cert: String,
    pub key: String,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        Pki { ca }
    }

    /// The CA certificate, in PEM: what `--ca-cert` is given.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    pub fn issue(&self, names: &[&str]) -> Issued {
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        roots
    }
}

/// How a TLS front is set up.
pub struct TlsFront<'a> {
    /// Issues the server certificate (for 127.0.0.1 and `api.invalid`).
    pub pki: &'a Pki,
    /// ALPN protocols offered, in order of preference.
    pub alpn: &'a [&'a str],
    /// Client certificates must be issued by this CA (mTLS).
    pub client_ca: Option<&'a Pki>,
}

/// A front on 127.0.0.1 forwarding every connection to `upstream`.
pub struct Front {
    pub addr: SocketAddr,
    /// Per connection, in order: the protocol it spoke (`h2`, `http/1.1`, `h2c`), or why
    /// the handshake failed (`refused: …`).
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Front {
    /// A TLS terminator.
    pub async fn tls(upstream: SocketAddr, setup: TlsFront<'_>) -> Front {
        let server = setup.pki.issue(&["127.0.0.1", "api.invalid"]);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match setup.client_ca {
            Some(ca) => builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(ca.roots()),
                    provider,
                )
                .build()
                .unwrap(),
            ),
            None => builder.with_no_client_auth(),
        };
        let certs = CertificateDer::pem_slice_iter(server.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(server.key.as_bytes()).unwrap();
        let mut config = builder.with_single_cert(certs, key).unwrap();
        config.alpn_protocols = setup.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Front::start(move |stream, seen| {
            let acceptor = acceptor.clone();
            async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                        let protocol = alpn
                            .map_or("none".into(), |p| String::from_utf8_lossy(&p).into_owned());
                        seen.lock().unwrap().push(protocol);
                        forward(tls, upstream).await;
                    }
                    Err(e) => seen.lock().unwrap().push(format!("refused: {e}")),
                }
            }
        })
        .await
    }

    /// A clear-text front that tells HTTP/2 with prior knowledge from HTTP/1.1 by the
    /// first bytes of each connection.
    pub async fn plain(upstream: SocketAddr) -> Front {
        Front::start(move |stream, seen| async move {
            let mut first = [0u8; 4];
            // The preface is `PRI * HTTP/2.0`: its first bytes are enough.
            if stream.peek(&mut first).await.is_err() {
                return;
            }
            let protocol = if &first == b"PRI " { "h2c" } else { "http/1.1" };
            seen.lock().unwrap().push(protocol.into());
            forward(stream, upstream).await;
        })
        .await
    }

    async fn start<F, Fut>(handle: F) -> Front
    where
        F: Fn(TcpStream, Arc<Mutex<Vec<String>>>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream, record.clone()));
            }
        });
        Front { addr, seen }
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A forward proxy: absolute-form requests and CONNECT tunnels, whatever host they name,
/// all go to `upstream`. It records the head of the first request on each connection —
/// what a proxy can read.
pub struct Proxy {
    pub url: String,
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let front = Front::start(move |mut stream, seen| async move {
            let Some(head) = read_head(&mut stream).await else {
                return;
            };
            seen.lock().unwrap().push(head.clone());
            if head.starts_with("CONNECT ") {
                let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
                if stream.write_all(established).await.is_err() {
                    return;
                }
                forward(stream, upstream).await;
            } else {
                // The reference server accepts absolute-form request targets, as RFC 9112
                // requires of servers: the head goes on unchanged.
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                if server.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut server).await;
            }
        })
        .await;
        Proxy {
            url: format!("http://{}", front.addr),
            heads: front.seen,
        }
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// Reads up to the end of the request head (bounded).
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).ok()
}

async fn forward<S: AsyncRead + AsyncWrite + Unpin>(mut client: S, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
