// A QR code drawn on the server as inline SVG (the TOTP enrolment's key URI, for a phone's
// authenticator app to scan): no external service sees the secret, and the markup is attributes
// only — no script, no <style>, no image — so it shows under the page CSP (`default-src 'none';
// style-src 'unsafe-inline'`). One image to assistive technology (`role="img"`, `aria-label`).
import QRCode from 'qrcode';
import { escapeHtml } from './pages.ts';

/** The white margin around the code, in modules: ISO/IEC 18004 section 7.3.8 asks for 4. */
const QUIET_ZONE = 4;
/** Pixels per module at the drawn size (the SVG scales; this is only its default size). */
const MODULE_PX = 4;

/**
 * `text` as a QR code (error correction level M: 15% of it may be unreadable), an inline <svg>:
 * black modules on white, white quiet zone included. Rejects when `text` is too long for any QR code.
 */
export async function qrSvg(text: string, options: { label?: string } = {}): Promise<string> {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const side = modules.size + 2 * QUIET_ZONE;
  // One path of horizontal runs of dark modules: a few kilobytes, drawn edge to edge (crispEdges).
  let path = '';
  for (let row = 0; row < modules.size; row++) {
    for (let column = 0; column < modules.size; ) {
      if (!modules.get(row, column)) {
        column++;
        continue;
      }
      const start = column;
      while (column < modules.size && modules.get(row, column)) column++;
      path += `M${start + QUIET_ZONE} ${row + QUIET_ZONE}h${column - start}v1h-${column - start}z`;
    }
  }
  const label = escapeHtml(options.label ?? 'QR code');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${label}" viewBox="0 0 ${side} ${side}" ` +
    `width="${side * MODULE_PX}" height="${side * MODULE_PX}" shape-rendering="crispEdges">` +
    `<rect width="${side}" height="${side}" fill="#ffffff"/><path fill="#000000" d="${path}"/></svg>`
  );
}
