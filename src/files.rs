//! Reading the files a run is given — profiles, scenarios, includes, schemas, snapshots,
//! baselines — as hostile input: they arrive in pull requests and run beside production
//! secrets. Every read is bounded by the bytes actually read, only regular files are read,
//! and what a file pulls in (`include:`, `$ref`) stays inside the project folder.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest scenario, profile or schema file read: far beyond any hand-written one, and a
/// bound on what a wrong path (a log, a dump) can cost.
pub const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// Reads a regular file of at most `max` bytes, bounded by the bytes actually read: a file's
/// reported size is not trusted (`/dev/zero` says 0 and never ends; a file may grow while
/// read), and devices, FIFOs and folders are refused without reading.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than the {} MiB such a file may have", max >> 20),
        )
    };
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a device, FIFO or folder is never read)",
        ));
    }
    if metadata.len() > max {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = NotUtf8::at(e.as_bytes(), e.utf8_error().valid_up_to());
        std::io::Error::new(std::io::ErrorKind::InvalidData, at)
    })
}

/// The JSON file at `path` (at most `max` bytes) as a `T`, or why not: it cannot be read,
/// or it is not `what`.
pub fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    max: u64,
    what: &str,
) -> Result<T, String> {
    let text =
        read_bounded(path, max).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not {what}: {e}", path.display()))
}

/// Where a file stops being UTF-8 text: the line and column (in characters) of its first
/// invalid byte, so a diagnostic points there instead of at the file as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8 {
    pub line: usize,
    pub col: usize,
    pub byte: u8,
}

impl NotUtf8 {
    fn at(bytes: &[u8], valid_up_to: usize) -> Self {
        let valid = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
        NotUtf8 {
            line: valid.matches('\n').count() + 1,
            col: valid[line_start..].chars().count() + 1,
            byte: bytes[valid_up_to],
        }
    }

    /// The position recorded in an error returned by [`read_bounded`], if it was this one.
    pub fn of(error: &std::io::Error) -> Option<NotUtf8> {
        error.get_ref()?.downcast_ref::<NotUtf8>().copied()
    }
}

impl std::fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not UTF-8 text (byte 0x{:02x} at line {}, column {}): is it a binary file?",
            self.byte, self.line, self.col
        )
    }
}

impl std::error::Error for NotUtf8 {}

/// `a/b/../c` → `a/c`, without touching the file system, so paths in messages and reports
/// read the way a user would write them.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir
                if matches!(
                    out.components().next_back(),
                    Some(std::path::Component::Normal(_))
                ) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The project folder: where tollgate runs (the folder holding `tollgate.yaml`).
fn project_root() -> Option<PathBuf> {
    std::env::current_dir().ok()?.canonicalize().ok()
}

/// `path`, once symlinks are followed, if it lies inside the project folder. What a
/// scenario pulls in must not be a runner's `/etc/passwd` or a key file beside the checkout;
/// the refusal names the path, never its content.
pub fn inside_project(path: &Path) -> Result<PathBuf, String> {
    let real = path
        .canonicalize()
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let root = project_root().ok_or("cannot tell the project folder (the working directory)")?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(format!(
            "`{}` is outside the project folder `{}` (symlinks followed): `include` and `$ref` \
             only read files inside it",
            path.display(),
            root.display()
        ))
    }
}

/// Resolves a JSON Schema's own `$ref`s: `file:` URIs inside the project only, bounded like
/// every other read; nothing is ever fetched from the network.
pub struct ProjectFiles;

impl jsonschema::Retrieve for ProjectFiles {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let url = url::Url::parse(uri.as_str())?;
        let path = url
            .to_file_path()
            .map_err(|()| format!("`{uri}`: schemas are read from local files only"))?;
        let real = inside_project(&path)?;
        let text = read_bounded(&real, MAX_SOURCE_BYTES)?;
        Ok(serde_json::from_str(&text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_file_is_refused_at_its_first_invalid_byte() {
        let dir = std::env::temp_dir().join(format!("tollgate-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("binary.yaml");
        std::fs::write(&path, b"name: x\nsteps: \xc3\xa9\xff\n").unwrap();
        let error = read_bounded(&path, 1024).unwrap_err();
        let at = NotUtf8::of(&error).expect("the position is kept");
        assert_eq!((at.line, at.col, at.byte), (2, 9, 0xff));
        assert!(error.to_string().contains("line 2, column 9"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn special_files_are_refused_without_reading() {
        let err = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn files_outside_the_project_are_refused_by_name() {
        let err = inside_project(Path::new("/etc/passwd")).unwrap_err();
        assert!(err.contains("outside the project folder"), "{err}");
        assert!(!err.contains("root:"), "never the content: {err}");
        assert!(inside_project(Path::new("Cargo.toml")).is_ok());
    }
}
