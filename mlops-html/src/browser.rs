//! Check a report in a real headless Chromium (feature `browser-check`; for tests).
//!
//! [`Browser::check`] loads the report twice from a scratch copy, each time in a fresh
//! profile with networking and background services off:
//! - with a small measuring script appended (the report itself has none), dumping the DOM at a
//!   1280 × 800 window: every `svg.chart` must have a non-empty bounding box, no element may
//!   reach past the viewport's right edge and the document may not scroll sideways;
//! - as it is, taking a screenshot at 1280 × 800.
//!
//! Chromium's exit code is 0 even when the page throws, so page errors are read from its log
//! (`--enable-logging=stderr --v=0`): any `:CONSOLE` line or `Uncaught` is a problem.
//!
//! The browser is `$MLOPS_CHROMIUM`, else `/usr/bin/chromium`, else `chromium` on `PATH`
//! (Debian: `apt-get install -y --no-install-recommends chromium`).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long one Chromium run may take.
const TIMEOUT: Duration = Duration::from_secs(90);

/// The window width the layout is checked at.
pub const WIDTH: u32 = 1280;

/// What the measuring script finds, and what Chromium logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCheck {
    /// Number of `svg.chart` elements.
    pub charts: usize,
    /// The viewport width the page was laid out at.
    pub viewport_width: u32,
    /// Problems: empty charts, overflowing elements, console messages, uncaught errors.
    pub problems: Vec<String>,
}

/// A headless Chromium.
#[derive(Debug, Clone)]
pub struct Browser {
    program: PathBuf,
}

static RUNS: AtomicU32 = AtomicU32::new(0);

/// The script appended for measuring: writes one finding per line into `<pre id=mlops-measure>`.
const MEASURE: &str = r#"<script>
(function(){
  var out=[], w=window.innerWidth;
  out.push("viewport "+w);
  var charts=document.querySelectorAll("svg.chart");
  out.push("charts "+charts.length);
  charts.forEach(function(s,i){
    var r=s.getBoundingClientRect();
    if(!(r.width>0&&r.height>0)) out.push("problem chart "+i+" has an empty box "+r.width+"x"+r.height);
    if(!s.querySelector("title")) out.push("problem chart "+i+" has no title");
  });
  // Content inside a box that clips or scrolls it (a wide table in its scrolling box) does not
  // overflow the page as long as that box itself fits.
  function clipped(e){
    for(var a=e.parentElement;a&&a!==document.body;a=a.parentElement){
      var ox=getComputedStyle(a).overflowX;
      if(ox!=="visible"){var b=a.getBoundingClientRect(); if(b.right<=w+0.5&&b.left>=-0.5) return true;}
    }
    return false;
  }
  document.querySelectorAll("body *").forEach(function(e){
    if(e.closest("svg")&&e.tagName.toLowerCase()!=="svg") return;
    if(clipped(e)) return;
    var r=e.getBoundingClientRect();
    if(r.width===0&&r.height===0) return;
    if(r.right>w+0.5||r.left<-0.5){
      out.push("problem "+e.tagName.toLowerCase()+(e.className&&e.className.baseVal===undefined?"."+e.className:"")+" overflows the viewport: left "+Math.round(r.left)+" right "+Math.round(r.right)+" of "+w);
    }
  });
  if(document.documentElement.scrollWidth>w) out.push("problem the page scrolls sideways: "+document.documentElement.scrollWidth+" > "+w);
  var pre=document.createElement("pre"); pre.id="mlops-measure"; pre.textContent="\n"+out.join("\n")+"\n"; document.body.appendChild(pre);
})();
</script>"#;

impl Browser {
    /// Find Chromium.
    ///
    /// # Errors
    /// A message saying how to install it when it is not there.
    pub fn find() -> Result<Self, String> {
        if let Some(p) = std::env::var_os("MLOPS_CHROMIUM") {
            let p = PathBuf::from(p);
            return if p.is_file() {
                Ok(Self { program: p })
            } else {
                Err(format!("MLOPS_CHROMIUM={} is not a file", p.display()))
            };
        }
        let default = Path::new("/usr/bin/chromium");
        if default.is_file() {
            return Ok(Self {
                program: default.to_path_buf(),
            });
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let p = dir.join("chromium");
                if p.is_file() {
                    return Ok(Self { program: p });
                }
            }
        }
        Err(
            "chromium not found: install it (Debian: `apt-get install -y --no-install-recommends \
             chromium`) or set MLOPS_CHROMIUM to its path"
                .to_owned(),
        )
    }

    /// Check the report `html` and save a 1280 × 800 screenshot to `screenshot`.
    ///
    /// # Errors
    /// Chromium could not be run, timed out, or its output could not be read; problems the
    /// page has are in [`PageCheck::problems`].
    pub fn check(&self, html: &Path, screenshot: &Path) -> Result<PageCheck, String> {
        let page = std::fs::read_to_string(html)
            .map_err(|e| format!("cannot read {}: {e}", html.display()))?;
        let scratch = Scratch::new()?;
        let measured = match page.rfind("</body>") {
            Some(i) => format!("{}{MEASURE}{}", &page[..i], &page[i..]),
            None => format!("{page}{MEASURE}"),
        };
        let copy = scratch.0.join("measure.html");
        std::fs::write(&copy, measured)
            .map_err(|e| format!("cannot write {}: {e}", copy.display()))?;
        let (dom, log) = self.run(&scratch, &["--dump-dom".to_owned()], &copy)?;
        let mut check = PageCheck::default();
        let text = dom
            .split_once("<pre id=\"mlops-measure\">")
            .and_then(|(_, rest)| rest.split_once("</pre>"))
            .map(|(m, _)| {
                m.replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            })
            .ok_or_else(|| format!("the measuring script did not run on {}", html.display()))?;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("viewport ") {
                check.viewport_width = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("charts ") {
                check.charts = v.trim().parse().unwrap_or(0);
            } else if let Some(p) = line.strip_prefix("problem ") {
                check.problems.push(p.to_owned());
            }
        }
        if check.viewport_width != WIDTH {
            check.problems.push(format!(
                "laid out at {} px instead of {WIDTH}",
                check.viewport_width
            ));
        }
        console_problems(&log, &mut check.problems);
        if let Some(dir) = screenshot.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let plain = scratch.0.join("page.html");
        std::fs::write(&plain, &page)
            .map_err(|e| format!("cannot write {}: {e}", plain.display()))?;
        let (_, log) = self.run(
            &scratch,
            &[
                format!("--screenshot={}", screenshot.display()),
                "--hide-scrollbars".to_owned(),
            ],
            &plain,
        )?;
        console_problems(&log, &mut check.problems);
        if !screenshot.is_file() {
            return Err(format!(
                "chromium wrote no screenshot {}",
                screenshot.display()
            ));
        }
        Ok(check)
    }

    /// Run Chromium on `page` with `extra` flags; returns stdout and stderr.
    fn run(
        &self,
        scratch: &Scratch,
        extra: &[String],
        page: &Path,
    ) -> Result<(String, String), String> {
        let profile = scratch
            .0
            .join(format!("profile-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
        let mut cmd = Command::new(&self.program);
        cmd.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={WIDTH},800"))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.program.display()))?;
        let mut out_pipe = child.stdout.take();
        let mut err_pipe = child.stderr.take();
        let out_t = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(p) = out_pipe.as_mut() {
                let _ = p.read_to_string(&mut s);
            }
            s
        });
        let err_t = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(p) = err_pipe.as_mut() {
                let _ = p.read_to_string(&mut s);
            }
            s
        });
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "chromium did not finish {} within {} s",
                        page.display(),
                        TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("waiting for chromium: {e}")),
            }
        }
        let out = out_t.join().unwrap_or_default();
        let err = err_t.join().unwrap_or_default();
        Ok((out, err))
    }
}

/// Page console messages and uncaught errors in Chromium's log.
fn console_problems(log: &str, problems: &mut Vec<String>) {
    for line in log.lines() {
        if line.contains(":CONSOLE") || line.contains("Uncaught") {
            problems.push(format!("console: {}", line.trim()));
        }
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "mlops-html-check-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
