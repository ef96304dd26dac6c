//! A tiny SMTP server that keeps what it is sent: enough of the protocol
//! (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for a real client
//! to hold a real conversation with it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, dot-unstuffed, CRLF line ends.
    pub data: String,
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        let (headers, _) = self.data.split_once("\r\n\r\n")?;
        headers.lines().find_map(|line| {
            let (key, value) = line.split_once(": ")?;
            key.eq_ignore_ascii_case(name).then_some(value)
        })
    }

    pub fn subject(&self) -> &str {
        self.header("Subject").unwrap_or_default()
    }

    /// The text a mail client shows: the body, decoded.
    pub fn text(&self) -> String {
        let (_, body) = self.data.split_once("\r\n\r\n").unwrap_or_default();
        match self.header("Content-Transfer-Encoding") {
            Some("quoted-printable") => {
                let decoded =
                    quoted_printable::decode(body, quoted_printable::ParseMode::Strict).unwrap();
                String::from_utf8(decoded).unwrap()
            }
            Some("7bit") | None => body.to_owned(),
            Some(other) => panic!("unexpected transfer encoding {other}"),
        }
    }
}

#[derive(Default)]
struct Received {
    mail: Mutex<Vec<Mail>>,
    /// The decoded `AUTH PLAIN` responses.
    logins: Mutex<Vec<String>>,
    arrived: Notify,
    /// Connections still to turn away with a 421, to exercise retries.
    refuse: AtomicUsize,
}

pub struct SmtpSink {
    /// The sink's address, `127.0.0.1:PORT`.
    pub addr: String,
    received: Arc<Received>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::refusing_first(0).await
    }

    /// A sink that answers its first `refused` connections with `421`.
    pub async fn refusing_first(refused: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let received = Arc::new(Received::default());
        received.refuse.store(refused, Ordering::SeqCst);
        let shared = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(converse(socket, shared.clone()));
            }
        });
        Self { addr, received }
    }

    pub fn mail(&self) -> Vec<Mail> {
        self.received.mail.lock().unwrap().clone()
    }

    pub fn logins(&self) -> Vec<String> {
        self.received.logins.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `count` messages have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.received.arrived.notified();
            let mail = self.mail();
            if mail.len() >= count {
                return mail;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{} of {count} messages arrived: {mail:?}", mail.len());
            }
        }
    }
}

async fn converse(socket: TcpStream, received: Arc<Received>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let refuse = received
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        return write.write_all(b"421 sink busy, try later\r\n").await;
    }
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "AUTH" => {
                use base64::Engine as _;
                let encoded = command.rsplit(' ').next().unwrap_or("");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap_or_default();
                let login = String::from_utf8_lossy(&decoded).replace('\0', " ");
                received.logins.lock().unwrap().push(login);
                b"235 accepted\r\n"
            }
            "MAIL" => {
                from = angle_bracketed(&command);
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(angle_bracketed(&command));
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if read.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                received.mail.lock().unwrap().push(Mail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                received.arrived.notify_waiters();
                b"250 OK queued\r\n"
            }
            "RSET" => {
                from.clear();
                to.clear();
                b"250 OK\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

fn angle_bracketed(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}
