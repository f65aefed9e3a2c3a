// Numeric tokenizer for the atom lines of LAMMPS text dumps (lmpflow.dump).
//
// The Python reader finds the frame headers and hands over the byte ranges of
// each frame's atom lines; this parses the wanted columns of those lines into a
// caller-provided float64 array.  No allocation, no global state: several
// threads may call it at once (ctypes releases the GIL around the call).
//
// Numbers are converted with std::from_chars, which is exact (correctly
// rounded, like strtod) and locale-independent.

#include <charconv>
#include <cstdint>
#include <cstring>

namespace {

// Error codes (negative return values); err[] gives the location.
constexpr int64_t kBadNumber = -1;    // a wanted field is not a number
constexpr int64_t kFieldCount = -2;   // a line has the wrong number of fields
constexpr int64_t kLineCount = -3;    // a frame has the wrong number of atom lines
constexpr int64_t kNotANumber = -4;   // a wanted field is "nan"
constexpr int64_t kBadArgument = -5;  // inconsistent arguments

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Field separators: blanks and the end of the line.
struct DelimTable {
  bool d[256] = {};
  constexpr DelimTable() { d[' '] = d['\t'] = d['\r'] = d['\n'] = true; }
};
constexpr DelimTable kDelim;
inline bool ends_field(const char* p, const char* end) {
  return p == end || kDelim.d[static_cast<unsigned char>(*p)];
}

// Clinger's fast path: a decimal with at most 19 significant digits whose
// mantissa m <= 2^53 and exponent |e| <= 22 is m * 10^e (or m / 10^-e) in one
// correctly rounded IEEE operation, so this is exact.  It covers what LAMMPS
// writes (%g: 6 digits; ids, types, image flags).  Reads the number starting at
// p and returns the first byte after it, or nullptr when the fast path does not
// apply (the caller then uses the general conversion).
inline const char* fast_decimal(const char* p, const char* end, double* out) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  bool neg = false;
  if (p < end && (*p == '-' || *p == '+')) neg = *p++ == '-';
  uint64_t m = 0;
  int digits = 0, exp10 = 0;
  bool any = false;
  while (p < end && *p == '0') ++p, any = true;  // leading zeros are not significant
  while (p < end && unsigned(*p - '0') < 10) {
    if (++digits > 19) return nullptr;
    m = 10 * m + unsigned(*p++ - '0');
    any = true;
  }
  if (p < end && *p == '.') {
    ++p;
    if (m == 0)
      while (p < end && *p == '0') ++p, --exp10, any = true;
    while (p < end && unsigned(*p - '0') < 10) {
      if (++digits > 19) return nullptr;
      m = 10 * m + unsigned(*p++ - '0');
      --exp10;
      any = true;
    }
  }
  if (!any) return nullptr;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool eneg = false;
    if (p < end && (*p == '-' || *p == '+')) eneg = *p++ == '-';
    if (p == end || unsigned(*p - '0') >= 10) return nullptr;
    int e = 0;
    while (p < end && unsigned(*p - '0') < 10) {
      if (e > 10000) return nullptr;
      e = 10 * e + (*p++ - '0');
    }
    exp10 += eneg ? -e : e;
  }
  if (m > (uint64_t(1) << 53)) return nullptr;
  double v = static_cast<double>(m);
  if (m != 0) {
    if (exp10 < -22 || exp10 > 22) return nullptr;
    v = exp10 < 0 ? v / kPow10[-exp10] : v * kPow10[exp10];
  }
  *out = neg ? -v : v;
  return p;
}

// General conversion of the token [p, q): exact (correctly rounded, like strtod).
inline bool slow_double(const char* p, const char* q, double* out) {
  if (p < q && *p == '+' && q - p > 1 && p[1] != '-' && p[1] != '+') ++p;  // from_chars rejects '+'
  auto rd = std::from_chars(p, q, *out, std::chars_format::general);
  // Out-of-range values (1e999) are an error: no strtod-like saturation to inf.
  return rd.ec == std::errc() && rd.ptr == q;
}

inline int64_t fail(int64_t code, int64_t* err, int64_t part, int64_t line, int64_t a, int64_t b,
                    int64_t c) {
  err[0] = part;
  err[1] = line;
  err[2] = a;
  err[3] = b;
  err[4] = c;
  return code;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int32_t lmpflow_dump_abi_version() { return 1; }

// Parses the atom lines of n_parts frames.
//
//   buf            text; part k is buf[spans[2k], spans[2k+1])
//   lines_per_part atom lines each part must hold (blank lines are skipped)
//   n_fields       fields every line must have (the columns of ITEM: ATOMS)
//   slot           n_fields entries: output row of the field, or -1 to skip it
//   out            n_slots x capacity float64, row-major: field f of atom line i
//                  goes to out[slot[f] * capacity + i]
//   capacity       rows of out (>= n_parts * lines_per_part)
//   err            5 int64 filled on error: part, line in the part, then
//                  kBadNumber/kNotANumber: field, byte offset of the token, its length;
//                  kFieldCount: fields found, byte offset of the line, its length;
//                  kLineCount: lines found, 0, 0.
//
// Returns the number of atom lines parsed (n_parts * lines_per_part) or a
// negative error code.
__attribute__((visibility("default"))) int64_t lmpflow_parse_atom_lines(
    const char* buf, const int64_t* spans, int64_t n_parts, int64_t lines_per_part,
    int32_t n_fields, const int32_t* slot, int32_t n_slots, double* out, int64_t capacity,
    int64_t* err) {
  if (n_fields <= 0 || lines_per_part < 0 || n_parts < 0 || capacity < n_parts * lines_per_part)
    return fail(kBadArgument, err, 0, 0, 0, 0, 0);
  for (int32_t f = 0; f < n_fields; ++f)
    if (slot[f] >= n_slots) return fail(kBadArgument, err, 0, 0, f, 0, 0);

  int64_t row = 0;
  for (int64_t k = 0; k < n_parts; ++k) {
    const char* p = buf + spans[2 * k];
    const char* const end = buf + spans[2 * k + 1];
    int64_t line = 0;  // non-blank lines of this part seen so far
    while (p < end) {
      const char* const line_start = p;
      while (p < end && is_blank(*p)) ++p;
      if (p == end) break;
      if (*p == '\n') {  // blank line: skipped, like pandas does
        ++p;
        continue;
      }
      if (line == lines_per_part) {  // too many lines: count them for the message
        int64_t n = line;
        for (const char* q = line_start; q < end;) {
          const char* nl = static_cast<const char*>(std::memchr(q, '\n', end - q));
          const char* le = nl ? nl : end;
          for (const char* c = q; c < le; ++c)
            if (!is_blank(*c)) {
              ++n;
              break;
            }
          q = nl ? nl + 1 : end;
        }
        return fail(kLineCount, err, k, line, n, 0, 0);
      }
      int32_t f = 0;
      for (;;) {
        const char* q;
        const int32_t s = f < n_fields ? slot[f] : -1;
        if (s >= 0) {
          double v;
          q = fast_decimal(p, end, &v);
          if (q == nullptr || !ends_field(q, end)) {
            q = p;
            while (!ends_field(q, end)) ++q;
            if (!slow_double(p, q, &v)) return fail(kBadNumber, err, k, line, f, p - buf, q - p);
            if (v != v) return fail(kNotANumber, err, k, line, f, p - buf, q - p);
          }
          out[s * capacity + row] = v;
        } else {
          q = p;
          while (!ends_field(q, end)) ++q;
        }
        ++f;
        p = q;
        while (p < end && is_blank(*p)) ++p;
        if (p == end || *p == '\n') break;
      }
      if (f != n_fields) {
        const char* le = p;
        while (le > line_start && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t')) --le;
        return fail(kFieldCount, err, k, line, f, line_start - buf, le - line_start);
      }
      if (p < end) ++p;  // the '\n'
      ++line;
      ++row;
    }
    if (line != lines_per_part) return fail(kLineCount, err, k, line, line, 0, 0);
  }
  return row;
}

}  // extern "C"
