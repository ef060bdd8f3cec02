//! A minimal client of the Chrome DevTools Protocol over `--remote-debugging-pipe`
//! (requests on the browser's fd 3, answers and events on its fd 4, each message
//! one JSON object followed by a NUL byte), enough to load a page, let it run
//! in real time, read its DOM, record every URL it requested and take
//! screenshots at chosen viewport sizes.
//!
//! Why the pipe and not `--dump-dom --virtual-time-budget`: virtual time runs
//! the page's 2 s timers back to back in a few milliseconds of real time, so two
//! polls see the same data and no rate (CPU %, points/s) can be computed, which
//! is exactly what the test must see. The pipe needs no WebSocket client and no
//! port. The fds are set up by `sh` redirecting two named pipes, since the
//! workspace forbids the `unsafe` a `pre_exec` would need.
//!
//! Protocol reference: <https://chromedevtools.github.io/devtools-protocol/>.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// A running headless chromium and its pipe; killed on drop.
pub(crate) struct Browser {
    child: Child,
    dir: PathBuf,
}

/// The two ends of the protocol pipe, opened by [`Browser::connect`].
pub(crate) struct Session {
    to_browser: File,
    from_browser: BufReader<File>,
    next_id: u64,
    session_id: Option<String>,
    /// Every URL the page asked for (`Network.requestWillBeSent`).
    pub(crate) requested: Vec<String>,
}

/// Requests recorded at most; a page that asks for more fails the test anyway.
const MAX_RECORDED: usize = 10_000;

impl Browser {
    /// Starts `chromium` headless with `flags`, talking over two fresh named pipes.
    pub(crate) fn start(chromium: &Path, flags: &[&str]) -> Browser {
        let dir = std::env::temp_dir().join(format!("vigil-cdp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        for fifo in ["in", "out"] {
            let status = Command::new("mkfifo")
                .arg(dir.join(fifo))
                .status()
                .expect("mkfifo runs");
            assert!(status.success(), "mkfifo {}", dir.join(fifo).display());
        }
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<"$VIGIL_CDP_DIR/in" 4>"$VIGIL_CDP_DIR/out""#)
            .arg(chromium)
            .args(flags)
            .arg("--remote-debugging-pipe")
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .env("VIGIL_CDP_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium.display()));
        Browser { child, dir }
    }

    /// The paths of the command and event pipes, for [`Session::connect`].
    pub(crate) fn pipes(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("in"), self.dir.join("out"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Session {
    /// Opens the pipes of [`Browser::pipes`]. Blocks until the browser has
    /// opened them too: call it on a thread of its own, which the browser's
    /// death (dropping the [`Browser`]) unblocks.
    pub(crate) fn connect((to, from): &(PathBuf, PathBuf)) -> Session {
        // The order matters: sh opens `in` first, then `out`.
        let to_browser = OpenOptions::new()
            .write(true)
            .open(to)
            .expect("open the browser's command pipe");
        let from_browser = File::open(from).expect("open the browser's event pipe");
        Session {
            to_browser,
            from_browser: BufReader::new(from_browser),
            next_id: 0,
            session_id: None,
            requested: Vec::new(),
        }
    }

    /// Sends one command (to the page once [`Session::open`] attached one) and
    /// returns its result; events read meanwhile are recorded. Panics on a
    /// protocol error or a closed pipe.
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session_id {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON");
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("{method}: the browser closed its pipe: {e}"));
        loop {
            let mut raw = Vec::new();
            let n = self
                .from_browser
                .read_until(0, &mut raw)
                .unwrap_or_else(|e| panic!("{method}: reading the pipe: {e}"));
            assert!(
                n > 0 && raw.last() == Some(&0),
                "{method}: the browser closed its pipe"
            );
            raw.pop();
            let reply: Value = serde_json::from_slice(&raw).expect("the browser sends JSON");
            if reply["id"] == json!(id) {
                if let Some(error) = reply.get("error") {
                    panic!("{method}: {error}");
                }
                return reply["result"].clone();
            }
            if reply["method"] == "Network.requestWillBeSent"
                && self.requested.len() < MAX_RECORDED
                && let Some(url) = reply["params"]["request"]["url"].as_str()
            {
                self.requested.push(url.to_string());
            }
        }
    }

    /// Opens a blank page and attaches to it; later calls go to that page.
    pub(crate) fn open(&mut self) {
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        self.session_id = Some(
            attached["sessionId"]
                .as_str()
                .expect("sessionId")
                .to_string(),
        );
        self.call("Network.enable", json!({}));
        self.call("Page.enable", json!({}));
    }

    /// Sets the viewport (CSS pixels); `mobile` as a phone does (viewport meta tag honoured).
    pub(crate) fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
    }

    /// Evaluates `expression` in the page and returns its value.
    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// A PNG of the viewport.
    pub(crate) fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        decode_base64(shot["data"].as_str().expect("screenshot data"))
    }
}

/// Standard base64 (RFC 4648 §4) as the protocol sends binary data; panics on
/// anything else, which here means a protocol change worth failing on.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | value(c) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[test]
fn decodes_base64_of_every_padding() {
    assert_eq!(decode_base64("TWFu"), b"Man");
    assert_eq!(decode_base64("TWE="), b"Ma");
    assert_eq!(decode_base64("TQ=="), b"M");
    assert_eq!(decode_base64("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
}
