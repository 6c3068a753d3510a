//! The seed's own client code, run unchanged against a running system: the Python `APIClient` with its
//! usage, the JavaScript `APIClient` with its usage, and the `test_authentication` script, all taken
//! from the JWT guide in `../shared/seeds/` (the file that holds `class APIClient`) each time a test runs.
//!
//! The guide was rendered from a web page that put a space between every token and dropped Python's
//! indentation. Getting runnable code back changes whitespace only, and [`SeedProgram::load_all`]
//! proves it: with every space, tab and newline removed, the program is byte for byte the seed's block.
//! What it does to the whitespace:
//!
//! - Python's indentation comes back from a table of levels, one per line ([`PY_CLIENT_LEVELS`],
//!   [`PY_TEST_LEVELS`]), written by reading the code: a lost indentation cannot be derived (in
//!   `get_headers`, `return {...}` after a one-line `if` body is at the `def`'s level, not the `if`'s).
//! - Inside an f-string or a JS template literal, the spaces the rendering put around an interpolation
//!   are removed (`f " { self .base_url } /auth/login"` → `f"{ self .base_url }/auth/login"`); the spaces
//!   inside `{ }` are an expression's and are legal. Spaces between tokens elsewhere are legal too
//!   (`self . access_token`), so they stay.
//!
//! The one other change is who and where: the string literals `"http://localhost:8000"`, `"api_user"`
//! and `"your-secure-password"` name the system under test, its user and password instead (each must
//! appear exactly as often as the seed has it).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Python indentation levels of the `APIClient` block (72 lines), in groups of ten lines.
pub const PY_CLIENT_LEVELS: &str =
    "0001222222 1223344322 2333332122 3322233332 1222323321 2233212233 3200111001 11";

/// Python indentation levels of the `test_authentication` block (45 lines), in groups of ten lines.
pub const PY_TEST_LEVELS: &str = "0001111223 3211111111 1122111111 1111122111 11101";

/// The origin, user and password the seed's code names.
const SEED_ORIGIN: &str = "http://localhost:8000";
const SEED_USER: &str = "api_user";
const SEED_PASSWORD: &str = "your-secure-password";

/// How long one program may run.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Language {
    Python,
    JavaScript,
}

/// Where one program sits in the seed: its first lines and its last line, and how to make it runnable.
struct Block {
    name: &'static str,
    language: Language,
    first: &'static str,
    second: &'static str,
    last: &'static str,
    levels: Option<&'static str>,
    file: &'static str,
    /// What the program prints when it worked.
    success: &'static str,
}

const BLOCKS: [Block; 3] = [
    Block {
        name: "the Python APIClient and its usage",
        language: Language::Python,
        first: "import requests",
        second: "from datetime import datetime, timedelta",
        last: "print (response.json())",
        levels: Some(PY_CLIENT_LEVELS),
        file: "api_client.py",
        success: "'exito': True",
    },
    Block {
        name: "the JavaScript APIClient and its usage",
        language: Language::JavaScript,
        first: "class APIClient {",
        second: "constructor ( baseURL , username , password ) {",
        last: "console . log ( data );",
        levels: None,
        // An ES module: the usage awaits at the top level.
        file: "api_client.mjs",
        success: "exito: true",
    },
    Block {
        name: "the test_authentication script",
        language: Language::Python,
        first: "import requests",
        second: "import time",
        last: "test_authentication()",
        levels: Some(PY_TEST_LEVELS),
        file: "test_authentication.py",
        success: "All authentication tests passed!",
    },
];

/// One of the seed's programs, ready to run against a system.
#[derive(Debug, Clone)]
pub struct SeedProgram {
    pub name: &'static str,
    pub file: &'static str,
    pub source: String,
    language_is_python: bool,
    success: &'static str,
}

/// The seeds directory: `SEEDS_DIR` when set, else `../shared/seeds` beside the repository.
pub fn seeds_dir() -> PathBuf {
    std::env::var_os("SEEDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(default_seeds_dir)
}

/// Where the seeds are on our own machines: `../shared/seeds` beside the repository.
fn default_seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("shared")
        .join("seeds")
}

/// Whether the seed documents are at hand, for `test`: when they are not (a clone without the project's
/// `shared/` beside it), `test` prints a `SKIPPED` line naming `SEEDS_DIR` and should return; on CI
/// it fails instead ([`crate::outside_input`]).
pub fn seeds_present(test: &str) -> bool {
    crate::outside_input(test, "the seed documents", "SEEDS_DIR", default_seeds_dir()).is_some()
}

/// The text of the seed that holds the client code (found by content, not by file name).
pub fn seed_text() -> io::Result<String> {
    let dir = seeds_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("the seeds are read from {} (set SEEDS_DIR): {e}", dir.display()),
        )
    })?;
    for entry in entries.flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            if text.contains("class APIClient") {
                return Ok(text);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no seed in {} holds `class APIClient`", dir.display()),
    ))
}

impl SeedProgram {
    /// The three programs from `seed` (the seed's text), naming `origin`, `user` and `password`.
    pub fn load_all(seed: &str, origin: &str, user: &str, password: &str) -> io::Result<Vec<SeedProgram>> {
        BLOCKS
            .iter()
            .map(|b| Self::load(b, seed, origin, user, password))
            .collect()
    }

    fn load(block: &Block, seed: &str, origin: &str, user: &str, password: &str) -> io::Result<Self> {
        let lines = find_block(seed, block)?;
        let levels: Option<Vec<usize>> = block.levels.map(|l| {
            l.chars()
                .filter_map(|c| c.to_digit(10))
                .map(|d| d as usize)
                .collect()
        });
        if let Some(levels) = &levels {
            if levels.len() != lines.len() {
                return Err(invalid(format!(
                    "{}: {} lines in the seed, {} indentation levels",
                    block.name,
                    lines.len(),
                    levels.len()
                )));
            }
        }
        let quote = match block.language {
            Language::Python => "f \"",
            Language::JavaScript => "`",
        };
        let mut source = String::new();
        for (i, line) in lines.iter().enumerate() {
            let level = levels.as_ref().map_or(0, |l| l[i]);
            source.push_str(&"    ".repeat(level));
            source.push_str(&tighten_interpolations(line, quote));
            source.push('\n');
        }
        let seed_block = lines.join("\n");
        if squeeze(&source) != squeeze(&seed_block) {
            return Err(invalid(format!("{}: more than whitespace changed", block.name)));
        }
        let source = substitute(&source, block, origin, user, password)?;
        Ok(SeedProgram {
            name: block.name,
            file: block.file,
            source,
            language_is_python: block.language == Language::Python,
            success: block.success,
        })
    }

    /// Writes the program into `dir` and runs it (`python3` or `node`); its output when it exits 0 and
    /// prints what it prints on success, else an error holding everything it printed.
    pub fn run(&self, dir: &Path) -> io::Result<String> {
        self.run_source(dir, &self.source, self.success)
    }

    /// Runs the program with `scenario` (code in the program's language) after it: the seed's code
    /// itself unchanged, its usage included, and then whatever else the test needs it to do with the
    /// objects the usage made (the client). Its output when it exits 0 and prints `success`.
    pub fn run_with(&self, dir: &Path, scenario: &str, success: &str) -> io::Result<String> {
        self.run_source(dir, &format!("{}\n{scenario}\n", self.source), success)
    }

    /// Whether this is one of the Python programs (else JavaScript).
    pub fn is_python(&self) -> bool {
        self.language_is_python
    }

    fn run_source(&self, dir: &Path, source: &str, success: &str) -> io::Result<String> {
        let path = dir.join(self.file);
        std::fs::write(&path, source)?;
        let interpreter = if self.language_is_python {
            "python3"
        } else {
            "node"
        };
        let mut child = Command::new(interpreter)
            .arg(&path)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{interpreter} must be installed: {e}")))?;
        let started = Instant::now();
        while child.try_wait()?.is_none() {
            if started.elapsed() > RUN_TIMEOUT {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() && stdout.contains(success) {
            return Ok(stdout);
        }
        let hint = if stderr.contains("No module named 'requests'") {
            "\n(the seed's Python needs `requests`: pip install requests)"
        } else {
            ""
        };
        Err(io::Error::other(format!(
            "{} ({}) failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}{hint}",
            self.name, self.file, out.status
        )))
    }
}

/// The seed's two client programs (the Python and the JavaScript `APIClient`, each with its usage),
/// naming `origin`, `user` and `password`, for tests that run them with a scenario of their own
/// ([`SeedProgram::run_with`]).
pub fn client_programs(origin: &str, user: &str, password: &str) -> io::Result<Vec<SeedProgram>> {
    let mut programs = SeedProgram::load_all(&seed_text()?, origin, user, password)?;
    programs.truncate(2);
    Ok(programs)
}

/// A new empty directory for running programs in (the caller removes it).
pub fn work_dir() -> io::Result<PathBuf> {
    crate::process::temp_dir("seed-clients")
}

/// Runs all three of the seed's programs against `origin` as `user`; the first failure, if any.
pub fn run_all(origin: &str, user: &str, password: &str) -> io::Result<()> {
    let programs = SeedProgram::load_all(&seed_text()?, origin, user, password)?;
    let dir = crate::process::temp_dir("seed-clients")?;
    for program in &programs {
        program.run(&dir)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The seed's lines from `first` (followed by `second`) to the next `last`, trimmed.
fn find_block<'a>(seed: &'a str, block: &Block) -> io::Result<Vec<&'a str>> {
    let lines: Vec<&str> = seed.lines().map(str::trim).collect();
    let start = lines
        .windows(2)
        .position(|w| w[0] == block.first && w[1] == block.second)
        .ok_or_else(|| invalid(format!("{}: not found in the seed", block.name)))?;
    let len = lines[start..]
        .iter()
        .position(|l| *l == block.last)
        .ok_or_else(|| invalid(format!("{}: its last line is not in the seed", block.name)))?;
    Ok(lines[start..=start + len].to_vec())
}

/// In each literal opened by `open` (`f "` or a backtick) and closed by its quote character, removes
/// the spaces before a leading interpolation and after every closing brace.
fn tighten_interpolations(line: &str, open: &str) -> String {
    let close = if open == "`" { '`' } else { '"' };
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(open) {
        let (before, literal) = rest.split_at(at + open.len());
        let Some(end) = literal.find(close) else {
            break;
        };
        // `f "` becomes `f"`.
        out.push_str(&before[..before.len() - open.len()]);
        out.push_str(&open.replace(' ', ""));
        let inner = &literal[..end];
        let trimmed = inner.trim_start();
        let inner = if trimmed.starts_with('{') || trimmed.starts_with("${") {
            trimmed
        } else {
            inner
        };
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            out.push(c);
            if c == '}' {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
        }
        out.push(close);
        rest = &literal[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `text` without any whitespace.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Replaces the seed's origin, user and password literals (in either quote style) with JSON string
/// literals of the real ones (valid Python and JavaScript), checking each appears as often as expected.
fn substitute(source: &str, block: &Block, origin: &str, user: &str, password: &str) -> io::Result<String> {
    let mut source = source.to_string();
    for (seed_value, value) in [
        (SEED_ORIGIN, origin),
        (SEED_USER, user),
        (SEED_PASSWORD, password),
    ] {
        let literal = serde_json::Value::String(value.to_string()).to_string();
        let mut found = 0;
        for quote in ['"', '\''] {
            let seed_literal = format!("{quote}{seed_value}{quote}");
            found += source.matches(&seed_literal).count();
            source = source.replace(&seed_literal, &literal);
        }
        if found != 1 {
            return Err(invalid(format!(
                "{}: the literal {seed_value:?} appears {found} times, not once",
                block.name
            )));
        }
    }
    Ok(source)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn programs() -> Vec<SeedProgram> {
        SeedProgram::load_all(
            &seed_text().unwrap(),
            "http://127.0.0.1:9",
            "maria",
            "pa\"ss'word",
        )
        .unwrap()
    }

    #[test]
    fn interpolations_lose_the_renderings_spaces_and_nothing_else() {
        assert_eq!(
            tighten_interpolations(r#"f " { self .base_url } /auth/login" ,"#, "f \""),
            r#"f"{ self .base_url }/auth/login" ,"#
        );
        assert_eq!(
            tighten_interpolations(
                r#""Authorization" : f "Bearer { self .access_token } " ,"#,
                "f \""
            ),
            r#""Authorization" : f"Bearer { self .access_token }" ,"#
        );
        assert_eq!(
            tighten_interpolations("fetch ( ` ${ this . baseURL }${ endpoint } ` , {", "`"),
            "fetch ( `${ this . baseURL }${ endpoint }` , {"
        );
        assert_eq!(
            tighten_interpolations(r#"print ( "Test 1" )"#, "f \""),
            r#"print ( "Test 1" )"#
        );
    }

    #[test]
    fn the_three_programs_are_the_seeds_code_with_only_who_and_where_changed() {
        let programs = programs();
        assert_eq!(programs.len(), 3);
        for p in &programs {
            assert!(p.source.contains("\"http://127.0.0.1:9\""), "{}", p.name);
            assert!(p.source.contains(r#""pa\"ss'word""#), "{}", p.name);
            assert!(!p.source.contains(SEED_PASSWORD), "{}", p.name);
        }
        // The indentation that matters: `return {` in get_headers is at the def's level.
        let client = &programs[0].source;
        assert!(
            client.contains("\n            self .refresh_access_token()\n        return {\n"),
            "{client}"
        );
    }

    #[test]
    fn a_changed_seed_is_refused_rather_than_run_with_a_stale_indentation() {
        // A line more in a Python block: the table of levels no longer fits.
        let seed = seed_text().unwrap().replacen(
            "self .password = password",
            "self .password = password\nself .extra = None",
            1,
        );
        let err = SeedProgram::load_all(&seed, "http://127.0.0.1:9", "u", "p").unwrap_err();
        assert!(err.to_string().contains("indentation levels"), "{err}");
        // A block gone.
        let seed = seed_text()
            .unwrap()
            .replace("class APIClient {", "class Client {");
        let err = SeedProgram::load_all(&seed, "http://127.0.0.1:9", "u", "p").unwrap_err();
        assert!(err.to_string().contains("JavaScript APIClient"), "{err}");
        // Credentials no longer where they were.
        let seed =
            seed_text()
                .unwrap()
                .replacen("password = \"your-secure-password\"", "password = PASSWORD", 1);
        let err = SeedProgram::load_all(&seed, "http://127.0.0.1:9", "u", "p").unwrap_err();
        assert!(err.to_string().contains("appears 0 times"), "{err}");
    }

    #[test]
    fn the_programs_parse_in_their_interpreters() {
        let dir = crate::process::temp_dir("seed-parse").unwrap();
        for p in programs() {
            let path = dir.join(p.file);
            std::fs::write(&path, &p.source).unwrap();
            let out = if p.language_is_python {
                Command::new("python3")
                    .arg("-m")
                    .arg("py_compile")
                    .arg(&path)
                    .output()
            } else {
                Command::new("node").arg("--check").arg(&path).output()
            }
            .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                p.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_program_that_cannot_reach_the_system_fails_with_its_output() {
        let dir = crate::process::temp_dir("seed-fail").unwrap();
        let test = programs().into_iter().nth(2).unwrap();
        let err = test.run(&dir).unwrap_err().to_string();
        assert!(
            err.contains("test_authentication") && err.contains("Connection"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
