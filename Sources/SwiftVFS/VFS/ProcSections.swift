// Texts that layers outside the proc file system contribute to /proc files,
// like proc_create_single() and the seq_file show functions that code
// outside fs/proc registers (genhd's /proc/partitions, blkdev_show() in
// /proc/devices, mm's lines of /proc/meminfo). The proc file system asks for
// `text(of:)` when a file is opened; it never imports the layers.
//
// Locking: `lock` guards the table; the text closures run without it, so a
// closure may take its own layer's locks (and register or unregister).

/// Sections of /proc files that other layers register (see ``VFS/procSections``).
///
/// A section is one closure that makes text, under a file name ("partitions",
/// "devices", "meminfo", "vmstat") and a key naming who owns it ("block",
/// "pagecache"). A file's text is its sections' texts in registration order:
/// ```swift
/// vfs.procSections.register(file: "partitions", key: "block") { registry.procPartitions() }
/// vfs.procSections.text(of: "partitions")   // what /proc/partitions shows
/// ```
/// Which files take sections, and what they show when none is registered,
/// is the proc file system's business.
public final class ProcSections: @unchecked Sendable {
  private struct Section {
    let file: String
    let key: String
    let text: @Sendable () -> String
  }

  private let lock = Lock()
  private var sections: [Section] = []

  /// No section registered.
  public init() {}

  /// Adds the section `key` to `file`, after the sections already there.
  /// Registering a key again replaces its text and keeps its place.
  public func register(file: String, key: String, text: @escaping @Sendable () -> String) {
    lock.withLock {
      let section = Section(file: file, key: key, text: text)
      if let i = sections.firstIndex(where: { $0.file == file && $0.key == key }) {
        sections[i] = section
      } else {
        sections.append(section)
      }
    }
  }

  /// Removes the section `key` of `file` (remove_proc_entry()); nothing if there is none.
  public func unregister(file: String, key: String) {
    lock.withLock { sections.removeAll { $0.file == file && $0.key == key } }
  }

  /// The text of `file`'s sections, joined in registration order, or nil when
  /// none is registered (the proc file then shows its default).
  public func text(of file: String) -> String? {
    let texts = lock.withLock { sections.filter { $0.file == file }.map(\.text) }
    guard !texts.isEmpty else { return nil }
    return texts.map { $0() }.joined()
  }

  /// The keys registered for `file`, in order.
  public func keys(of file: String) -> [String] {
    lock.withLock { sections.filter { $0.file == file }.map(\.key) }
  }
}
