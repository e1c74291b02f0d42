import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The table, the JSON and the SVG chart of one run.
enum Report {
  /// The non-reference targets that have a figure in some row: the ratio
  /// columns, in the suite's order.
  static func compared(_ suite: Suite) -> [String] {
    suite.columns.filter { $0 != suite.reference }
  }

  /// A target's verdict on one row: meets/MISSES its ratio target, or
  /// faster/SLOWER than the other target (ext2: vfs vs fuse2fs).
  static func verdict(_ r: Row, suite: Suite) -> String {
    if r.wrongData {
      let who = r.verified.filter { !$0.value }.keys.sorted().joined(separator: "+")
      return "WRONG DATA (\(who))"
    }
    let ref = suite.reference
    switch suite.verdict {
    case .ratioTargets:
      guard let target = suite.target(r) else { return "" }
      let names = compared(suite)
      var parts: [String] = []
      var missing: [String] = []
      for name in names {
        guard let ratio = r.ratio(name, to: ref) else {
          missing.append(name)
          continue
        }
        let v = ratio <= target ? "meets" : "MISSES"
        parts.append(names.count > 1 ? "\(name) \(v)" : v)
      }
      if parts.isEmpty || r.median(ref) == nil {
        return r.skipped.isEmpty
          ? "no figure" : "n/a: " + Set(r.skipped.values).sorted().joined(separator: "; ")
      }
      if names.count > 1 { parts += missing.map { "\($0) n/a" } }
      return parts.joined(separator: ", ")
    case .fasterThan(let target, let other):
      guard let t = r.median(target) else {
        if let why = r.skipped[target] {
          return why.hasPrefix("read-only") ? "n/a (read-only)" : "n/a: " + why
        }
        return "no figure"
      }
      guard let o = r.median(other) else { return "n/a (\(other): no figure)" }
      return t < o ? "faster" : "SLOWER"
    }
  }

  /// Median time of a repetition; for IOPS rows the time per I/O.
  static func time(_ r: Row, _ name: String) -> String {
    guard let m = r.median(name) else {
      guard let why = r.skipped[name] else { return "-" }
      return why.hasPrefix("read-only") ? "n/a (read-only)" : "n/a"
    }
    return formatNanos(m) + (r.isIOPS ? "/io" : "")
  }

  static func printTable(_ results: Results, suite: Suite) {
    let columns = suite.columns
    let ref = suite.reference
    let ratioColumns = compared(suite)
    var header = ["workload"] + columns + columns.map { "\($0) rate" }
    header += ratioColumns.map { "\($0)/\(ref)" }
    switch suite.verdict {
    case .ratioTargets: header += ["target", "verdict"]
    case .fasterThan(let target, let other): header += ["\(target) vs \(other)"]
    }
    var lines: [[String]] = []
    for r in results.rows {
      var l = [r.title] + columns.map { time(r, $0) } + columns.map { r.rate($0) }
      l += ratioColumns.map { r.ratio($0, to: ref).map { $0.short + "x" } ?? "-" }
      if suite.hasTargets { l.append(suite.target(r).map { "<= " + $0.short + "x" } ?? "") }
      l.append(verdict(r, suite: suite))
      lines.append(l)
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
    var legend = "(times: median of the repetitions; fio rows: time per I/O = 1/IOPS"
    if case .ratioTargets(let source, _) = suite.verdict { legend += "; targets: \(source)" }
    print(legend + ")")
  }

  /// Round trips: for each vfsmount target, each row's FUSE requests per
  /// operation by opcode, and the daemon's mean time per opcode.
  static func printRequests(_ results: Results, suite: Suite) {
    for name in suite.columns {
      let rows = results.rows.filter { ($0.requests[name]?.ops ?? 0) > 0 }
      guard !rows.isEmpty else { continue }
      print("\nFUSE requests per operation on \(name) (/proc/vfs/requests; mean us in the daemon)")
      for r in rows {
        guard let tally = r.requests[name] else { continue }
        let per = tally.perOperation.filter { $0.perOp >= 0.005 }
        let counts = per.map { "\($0.opcode) \(($0.perOp).fixed($0.perOp >= 10 ? 1 : 2))" }
        let means = per.map { "\($0.opcode) \(($0.meanNanos / 1000).fixed(1))" }
        let unit = r.isIOPS ? "per I/O" : "per op"
        print("  \(r.title): \(counts.isEmpty ? "none" : counts.joined(separator: ", ")) \(unit)")
        if !means.isEmpty { print("      mean us: \(means.joined(separator: ", "))") }
      }
    }
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
    _ results: Results, suite: Suite? = nil, machine: [String: Any], settings: [String: Any],
    micro: [Micro.Result]?, microMemory: [(String, Double)]?
  ) -> Data {
    func num(_ d: Double?) -> Any { d.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
    var rows: [[String: Any]] = []
    let columns = suite?.columns ?? []
    let ref = suite?.reference ?? "tmpfs"
    for r in results.rows {
      let target = suite.map { $0.target(r) } ?? r.target
      var row: [String: Any] = [
        "key": r.key, "group": r.group, "workload": r.title, "ops_per_rep": r.ops,
        "bytes_per_rep": r.bytes, "target_ratio": num(target),
        "verdict": suite.map { verdict(r, suite: $0) } ?? "",
        "unit": r.isIOPS ? "ns per I/O (1e9/IOPS)" : "ns per repetition", "reference": ref,
      ]
      var ratios: [String: Any] = [:]
      for name in columns where name != ref {
        ratios["\(name)/\(ref)"] = num(r.ratio(name, to: ref))
      }
      row["ratios"] = ratios
      // The memfs suite's key of old, for readers of earlier JSON.
      if suite?.name == "memfs" { row["ratio_vfs_over_tmpfs"] = num(r.ratio("vfs", to: "tmpfs")) }
      if let suite, let target, columns.count == 2, let other = compared(suite).first,
        let ratio = r.ratio(other, to: ref)
      {
        row["meets_target"] = ratio <= target
      }
      for name in columns {
        var side: [String: Any] = [
          "median_ns": num(r.median(name)), "samples_ns": r.samples[name] ?? [],
          "rate": r.rate(name),
        ]
        if let v = r.verified[name] { side["verified"] = v }
        if let s = r.skipped[name] { side["skipped"] = s }
        if let tally = r.requests[name], tally.ops > 0 {
          side["requests"] =
            [
              "ops": tally.ops,
              "calls": tally.counts.calls,
              "per_op": Dictionary(
                uniqueKeysWithValues: tally.perOperation.map { ($0.opcode, $0.perOp) }),
              "mean_ns": Dictionary(
                uniqueKeysWithValues: tally.perOperation.map { ($0.opcode, num($0.meanNanos)) }),
            ] as [String: Any]
        }
        row[name] = side
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
    if let suite {
      doc["suite"] = suite.name
      doc["reference"] = suite.reference
      doc["targets"] = suite.columns
    }
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

  /// A horizontal bar per row and compared target: its time / the
  /// reference's on a log scale, bars from 1x, the row's target as a red
  /// tick. Green meets (or faster than the other target), orange misses,
  /// grey no target, red wrong data.
  static func svg(_ results: Results, suite: Suite, subtitle: String) -> String {
    let ref = suite.reference
    let names = compared(suite)
    let rows = results.rows.filter { r in
      r.wrongData || names.contains { r.ratio($0, to: ref) != nil }
    }
    let labelWidth = 360.0
    let plotWidth = 560.0
    let barHeight = 22.0
    let rowHeight = barHeight * Double(max(names.count, 1))
    let top = 70.0
    let plotBottom = top + Double(rows.count) * rowHeight
    let height = plotBottom + 60
    let width = labelWidth + plotWidth + 170
    let ratios =
      rows.flatMap { r in names.compactMap { r.ratio($0, to: ref) } }
      + rows.compactMap { suite.target($0) }
    let lo = pow(10, floor(log10(max(min(ratios.min() ?? 0.1, 0.5), 0.001))))
    let hi = pow(10, ceil(log10(max(ratios.max() ?? 10, 10))))
    func x(_ r: Double) -> Double {
      let c = min(max(r, lo), hi)
      return labelWidth + (log10(c) - log10(lo)) / (log10(hi) - log10(lo)) * plotWidth
    }
    func f(_ d: Double) -> String { d.fixed(1) }
    let over = names.count == 1 ? "\(names[0])/\(ref)" : "target/\(ref)"
    var s = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" \
      viewBox="0 0 \(f(width)) \(f(height))" font-family="sans-serif" font-size="12">
      <rect width="100%" height="100%" fill="white"/>
      <text x="10" y="22" font-size="16" font-weight="bold">\(escape(suite.title)): \
      time ratio \(escape(over)), log scale (lower is better)</text>
      <text x="10" y="42" fill="#555">\(escape(subtitle))</text>

      """
    var decade = lo
    while decade <= hi * 1.0001 {
      let xx = x(decade)
      var label = decade >= 1 ? String(Int(decade.rounded())) : decade.fixed(3)
      while label.contains("."), label.hasSuffix("0") { label.removeLast() }
      s += """
        <line x1="\(f(xx))" y1="\(f(top - 8))" x2="\(f(xx))" y2="\(f(plotBottom))" \
        stroke="\(decade == 1 ? "#000" : "#ddd")" stroke-width="\(decade == 1 ? 1.5 : 1)"/>
        <text x="\(f(xx))" y="\(f(top - 12))" text-anchor="middle" fill="#333">\(label)x</text>

        """
      decade *= 10
    }
    for (i, r) in rows.enumerated() {
      let y0 = top + Double(i) * rowHeight
      s +=
        "<text x=\"\(f(labelWidth - 8))\" y=\"\(f(y0 + 15))\" text-anchor=\"end\">\(escape(r.title))</text>\n"
      let target = suite.target(r)
      for (j, name) in names.enumerated() {
        let y = y0 + Double(j) * barHeight
        let ratio = r.ratio(name, to: ref)
        let color: String
        if r.verified[name] == false {
          color = "#d62728"
        } else if let ratio, let target {
          color = ratio <= target ? "#2ca02c" : "#ff7f0e"
        } else if case .fasterThan(let t, let other) = suite.verdict, t == name,
          let a = r.median(t), let b = r.median(other)
        {
          color = a < b ? "#2ca02c" : "#ff7f0e"
        } else {
          color = "#999"
        }
        let tag = names.count > 1 ? " \(name)" : ""
        if let ratio {
          let x0 = min(x(1), x(ratio))
          let w = max(abs(x(ratio) - x(1)), 1.5)
          s +=
            "<rect x=\"\(f(x0))\" y=\"\(f(y + 4))\" width=\"\(f(w))\" height=\"\(f(barHeight - 8))\" fill=\"\(color)\"/>\n"
          // Right of the bar and of the target tick, so neither hides the figure.
          let tx = max(ratio >= 1 ? x(ratio) : x(1), target.map { x($0) + 2 } ?? 0) + 4
          s +=
            "<text x=\"\(f(tx))\" y=\"\(f(y + 15))\" fill=\"#222\">\(ratio.short)x\(escape(tag))\(r.verified[name] == false ? " WRONG DATA" : "")</text>\n"
        } else {
          let wrong = r.verified[name] == false
          let why = wrong ? "WRONG DATA" : time(r, name) == "-" ? "no figure" : time(r, name)
          s +=
            "<text x=\"\(f(x(1) + 4))\" y=\"\(f(y + 15))\" fill=\"\(wrong ? "#d62728" : "#777")\">\(escape(why))\(escape(tag))</text>\n"
        }
      }
      if let t = target {
        s +=
          "<line x1=\"\(f(x(t)))\" y1=\"\(f(y0 + 1))\" x2=\"\(f(x(t)))\" y2=\"\(f(y0 + rowHeight - 1))\" stroke=\"#b00\" stroke-width=\"2.5\"/>\n"
      }
    }
    let ly = plotBottom + 25
    var meets = "meets target"
    var misses = "misses target"
    var tick = "target"
    switch suite.verdict {
    case .ratioTargets(let source, _): tick = "target (\(source))"
    case .fasterThan(let t, let other):
      meets = "\(t) faster than \(other)"
      misses = "\(t) slower"
    }
    s += """
      <rect x="10" y="\(f(ly - 10))" width="12" height="12" fill="#2ca02c"/><text x="27" y="\(f(ly))">\(escape(meets))</text>
      <rect x="200" y="\(f(ly - 10))" width="12" height="12" fill="#ff7f0e"/><text x="217" y="\(f(ly))">\(escape(misses))</text>
      <rect x="330" y="\(f(ly - 10))" width="12" height="12" fill="#999"/><text x="347" y="\(f(ly))">no target</text>
      <rect x="430" y="\(f(ly - 10))" width="12" height="12" fill="#d62728"/><text x="447" y="\(f(ly))">wrong data</text>
      <line x1="540" y1="\(f(ly - 11))" x2="540" y2="\(f(ly + 2))" stroke="#b00" stroke-width="2.5"/><text x="547" y="\(f(ly))">\(escape(tick))</text>
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
