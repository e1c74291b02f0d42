import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The table, the JSON and the SVG chart of one run.
enum Report {
  static func verdict(_ r: Row) -> String {
    if r.wrongData {
      let who = r.verified.filter { !$0.value }.keys.map(\.rawValue).sorted().joined(separator: "+")
      return "WRONG DATA (\(who))"
    }
    if r.median(.vfs) == nil || r.median(.tmpfs) == nil {
      return r.skipped.isEmpty
        ? "no figure" : "n/a: " + r.skipped.values.sorted().joined(separator: "; ")
    }
    guard let meets = r.meetsTarget else { return "" }
    return meets ? "meets" : "MISSES"
  }

  /// Median time of a repetition; for IOPS rows the time per I/O.
  static func time(_ r: Row, _ kind: BenchMount.Kind) -> String {
    guard let m = r.median(kind) else { return r.skipped[kind] != nil ? "n/a" : "-" }
    return formatNanos(m) + (r.isIOPS ? "/io" : "")
  }

  static func printTable(_ results: Results) {
    let header = [
      "workload", "vfs", "tmpfs", "vfs rate", "tmpfs rate", "vfs/tmpfs", "target", "verdict",
    ]
    var lines: [[String]] = []
    for r in results.rows {
      lines.append([
        r.title, time(r, .vfs), time(r, .tmpfs), r.rate(.vfs), r.rate(.tmpfs),
        r.ratio.map { $0.short + "x" } ?? "-", r.target.map { "<= " + $0.short + "x" } ?? "",
        verdict(r),
      ])
    }
    var widths = header.map(\.count)
    for l in lines { for (i, s) in l.enumerated() { widths[i] = max(widths[i], s.count) } }
    func show(_ l: [String]) {
      var s = ""
      for (i, cell) in l.enumerated() {
        let w = widths[i]
        s += (i == 0 || i == l.count - 1 ? cell.rightPad(w) : cell.leftPad(w))
        if i < l.count - 1 { s += "  " }
      }
      while s.hasSuffix(" ") { s.removeLast() }
      print(s)
    }
    show(header)
    show(widths.map { String(repeating: "-", count: $0) })
    var group = ""
    for (r, l) in zip(results.rows, lines) {
      if r.group != group, !group.isEmpty { print("") }
      group = r.group
      show(l)
    }
    print("(times: median of the repetitions; fio rows: time per I/O = 1/IOPS)")
  }

  static func printMemory(_ results: Results) {
    guard !results.memory.isEmpty else { return }
    print("\nvfsmount daemon memory")
    for m in results.memory {
      let value = m.unit == "bytes" ? formatBytes(m.value) : m.value.short + " " + m.unit
      print("  \(m.name): \(value)\(m.note.isEmpty ? "" : "  (\(m.note))")")
    }
  }

  // MARK: - JSON

  static func json(
    _ results: Results, machine: [String: Any], settings: [String: Any],
    micro: [Micro.Result]?, microMemory: [(String, Double)]?
  ) -> Data {
    func num(_ d: Double?) -> Any { d.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
    var rows: [[String: Any]] = []
    for r in results.rows {
      var row: [String: Any] = [
        "key": r.key, "group": r.group, "workload": r.title, "ops_per_rep": r.ops,
        "bytes_per_rep": r.bytes, "ratio_vfs_over_tmpfs": num(r.ratio),
        "target_ratio": num(r.target), "verdict": verdict(r),
        "unit": r.isIOPS ? "ns per I/O (1e9/IOPS)" : "ns per repetition",
      ]
      if let m = r.meetsTarget { row["meets_target"] = m }
      for kind in [BenchMount.Kind.vfs, .tmpfs] {
        var side: [String: Any] = [
          "median_ns": num(r.median(kind)), "samples_ns": r.samples[kind] ?? [],
          "rate": r.rate(kind),
        ]
        if let v = r.verified[kind] { side["verified"] = v }
        if let s = r.skipped[kind] { side["skipped"] = s }
        row[kind.rawValue] = side
      }
      rows.append(row)
    }
    var doc: [String: Any] = [
      "machine": machine, "settings": settings, "rows": rows,
      "memory": results.memory.map {
        ["name": $0.name, "value": num($0.value), "unit": $0.unit, "note": $0.note] as [String: Any]
      },
      "notes": results.notes, "failures": results.failures,
    ]
    if let micro {
      doc["micro"] = micro.map {
        [
          "name": $0.name, "ns_per_op": num($0.nanosPerOp),
          "net_heap_bytes_per_op_mallinfo2": num($0.heapBytesPerOp), "ops": $0.ops,
        ] as [String: Any]
      }
    }
    if let microMemory {
      doc["micro_memory"] = microMemory.map { ["name": $0.0, "bytes": num($0.1)] as [String: Any] }
    }
    return
      (try? JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys]))
      ?? Data()
  }

  // MARK: - SVG

  static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  /// A horizontal bar per row: vfs/tmpfs on a log scale, bars from 1x, the
  /// target as a red tick. Green meets, orange misses, grey no target, red
  /// wrong data.
  static func svg(_ results: Results, subtitle: String) -> String {
    let rows = results.rows.filter { $0.ratio != nil || $0.wrongData }
    let labelWidth = 360.0
    let plotWidth = 560.0
    let rowHeight = 22.0
    let top = 70.0
    let height = top + Double(max(rows.count, 1)) * rowHeight + 60
    let width = labelWidth + plotWidth + 110
    let ratios = rows.compactMap(\.ratio) + rows.compactMap(\.target)
    let lo = pow(10, floor(log10(max(min(ratios.min() ?? 0.1, 0.5), 0.001))))
    let hi = pow(10, ceil(log10(max(ratios.max() ?? 10, 10))))
    func x(_ r: Double) -> Double {
      let c = min(max(r, lo), hi)
      return labelWidth + (log10(c) - log10(lo)) / (log10(hi) - log10(lo)) * plotWidth
    }
    func f(_ d: Double) -> String { d.fixed(1) }
    var s = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" \
      viewBox="0 0 \(f(width)) \(f(height))" font-family="sans-serif" font-size="12">
      <rect width="100%" height="100%" fill="white"/>
      <text x="10" y="22" font-size="16" font-weight="bold">SwiftVFS (FUSE) vs kernel tmpfs: \
      time ratio vfs/tmpfs, log scale (lower is better)</text>
      <text x="10" y="42" fill="#555">\(escape(subtitle))</text>

      """
    var decade = lo
    while decade <= hi * 1.0001 {
      let xx = x(decade)
      var label = decade >= 1 ? String(Int(decade.rounded())) : decade.fixed(3)
      while label.contains("."), label.hasSuffix("0") { label.removeLast() }
      s += """
        <line x1="\(f(xx))" y1="\(f(top - 8))" x2="\(f(xx))" y2="\(f(top + Double(rows.count) * rowHeight))" \
        stroke="\(decade == 1 ? "#000" : "#ddd")" stroke-width="\(decade == 1 ? 1.5 : 1)"/>
        <text x="\(f(xx))" y="\(f(top - 12))" text-anchor="middle" fill="#333">\(label)x</text>

        """
      decade *= 10
    }
    for (i, r) in rows.enumerated() {
      let y = top + Double(i) * rowHeight
      let color: String
      if r.wrongData {
        color = "#d62728"
      } else if let m = r.meetsTarget {
        color = m ? "#2ca02c" : "#ff7f0e"
      } else {
        color = "#999"
      }
      s +=
        "<text x=\"\(f(labelWidth - 8))\" y=\"\(f(y + 15))\" text-anchor=\"end\">\(escape(r.title))</text>\n"
      if let ratio = r.ratio {
        let x0 = min(x(1), x(ratio))
        let w = max(abs(x(ratio) - x(1)), 1.5)
        s +=
          "<rect x=\"\(f(x0))\" y=\"\(f(y + 4))\" width=\"\(f(w))\" height=\"\(f(rowHeight - 8))\" fill=\"\(color)\"/>\n"
        // Right of the bar and of the target tick, so neither hides the figure.
        let tx = max(ratio >= 1 ? x(ratio) : x(1), r.target.map { x($0) + 2 } ?? 0) + 4
        s +=
          "<text x=\"\(f(tx))\" y=\"\(f(y + 15))\" fill=\"#222\">\(ratio.short)x\(r.wrongData ? " WRONG DATA" : "")</text>\n"
      } else {
        s += "<text x=\"\(f(x(1) + 4))\" y=\"\(f(y + 15))\" fill=\"#d62728\">WRONG DATA</text>\n"
      }
      if let t = r.target {
        s +=
          "<line x1=\"\(f(x(t)))\" y1=\"\(f(y + 1))\" x2=\"\(f(x(t)))\" y2=\"\(f(y + rowHeight - 1))\" stroke=\"#b00\" stroke-width=\"2.5\"/>\n"
      }
    }
    let ly = top + Double(rows.count) * rowHeight + 25
    s += """
      <rect x="10" y="\(f(ly - 10))" width="12" height="12" fill="#2ca02c"/><text x="27" y="\(f(ly))">meets target</text>
      <rect x="120" y="\(f(ly - 10))" width="12" height="12" fill="#ff7f0e"/><text x="137" y="\(f(ly))">misses target</text>
      <rect x="240" y="\(f(ly - 10))" width="12" height="12" fill="#999"/><text x="257" y="\(f(ly))">no target</text>
      <rect x="340" y="\(f(ly - 10))" width="12" height="12" fill="#d62728"/><text x="357" y="\(f(ly))">wrong data</text>
      <line x1="450" y1="\(f(ly - 11))" x2="450" y2="\(f(ly + 2))" stroke="#b00" stroke-width="2.5"/><text x="457" y="\(f(ly))">target (issue 5)</text>
      </svg>

      """
    return s
  }

  static func write(_ data: Data, to path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty {
      try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    guard FileManager.default.createFile(atPath: path, contents: data) else {
      throw BenchFailure("cannot write \(path)")
    }
  }
}
