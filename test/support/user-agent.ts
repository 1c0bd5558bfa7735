// A scripted browser for HTTP-level end-to-end tests: a cookie jar per host, manual redirects,
// *.localhost resolved to loopback, and form submission. (The Chromium tests drive a real one.)
import { Agent, request as undiciRequest } from 'undici';

export const loopback = new Agent({
  connect: {
    lookup: (
      _hostname: string,
      options: unknown,
      callback: (
        error: Error | null,
        address: string | Array<{ address: string; family: number }>,
        family?: number,
      ) => void,
    ) => {
      if ((options as { all?: boolean }).all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    },
  },
});

interface Cookie {
  value: string;
  path: string;
}

/** What a test reads of a response. (undici's request, not fetch: fetch overrides Sec-Fetch-Mode.) */
export interface Response {
  readonly status: number;
  readonly headers: Headers;
  readonly url: string;
  text(): Promise<string>;
  json(): Promise<unknown>;
  cancel(): Promise<void>;
}

export class UserAgent {
  readonly jar = new Map<string, Map<string, Cookie>>();
  /** Every URL requested, in order. */
  readonly visited: string[] = [];
  /** Redirects to a matching URL are not followed: the redirect is returned (to steal a code, say). */
  holdRedirectsTo: RegExp | undefined;
  /**
   * Where each request goes, whatever port its URL names (as a load balancer picks an instance):
   * a port on 127.0.0.1; the URL's host is sent as `Host`.
   */
  via: ((url: URL) => number) | undefined;

  /** Sent with every request, e.g. a browser's `user-agent` (the scripted browser sends none of its own). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(headers: Readonly<Record<string, string>> = {}) {
    this.headers = headers;
  }

  cookieHeader(url: URL): string | undefined {
    const cookies = this.jar.get(url.host);
    if (!cookies) return undefined;
    const pairs = [...cookies]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`);
    return pairs.length ? pairs.join('; ') : undefined;
  }

  #store(url: URL, response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';').map((part) => part.trim());
      const index = pair!.indexOf('=');
      const name = pair!.slice(0, index);
      const value = pair!.slice(index + 1);
      const path = attributes.find((a) => /^path=/i.test(a))?.slice(5) ?? '/';
      const cookies = this.jar.get(url.host) ?? new Map<string, Cookie>();
      this.jar.set(url.host, cookies);
      if (attributes.some((a) => /^max-age=0$/i.test(a)) || value === '') cookies.delete(name);
      else cookies.set(name, { value, path });
    }
  }

  /** One request, no redirect followed. */
  async request(
    input: string | URL,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<Response> {
    const url = new URL(input);
    this.visited.push(url.href);
    const cookie = this.cookieHeader(url);
    const target = this.via ? new URL(`${url.pathname}${url.search}`, `http://127.0.0.1:${this.via(url)}`) : url;
    const answer = await undiciRequest(target, {
      method: (init.method ?? 'GET') as 'GET',
      body: init.body ?? null,
      dispatcher: loopback,
      headers: {
        accept: 'text/html',
        'sec-fetch-mode': 'navigate',
        ...this.headers,
        ...(this.via ? { host: url.host } : {}),
        ...(cookie ? { cookie } : {}),
        ...init.headers,
      },
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) headers.append(name, item);
    }
    const response: Response = {
      status: answer.statusCode,
      headers,
      url: url.href,
      text: () => answer.body.text(),
      json: () => answer.body.json(),
      cancel: () => answer.body.dump(),
    };
    this.#store(url, response);
    return response;
  }

  /**
   * Follows redirects like a browser navigation; the final response. A redirect to another scheme
   * (myapp://…) is where a browser hands over to an app: that redirect is the final response.
   */
  async navigate(
    input: string | URL,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<Response> {
    let url = new URL(input);
    let response = await this.request(url, init);
    for (let hops = 0; response.status >= 300 && response.status < 400; hops++) {
      if (hops > 20) throw new Error('too many redirects');
      const next = new URL(response.headers.get('location')!, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return response;
      if (this.holdRedirectsTo?.test(next.href)) return response;
      await response.cancel();
      url = next;
      response = await this.request(url);
    }
    return response;
  }

  /** Submits the first form of an HTML page, with `fields` overriding its inputs; follows redirects. */
  async submitForm(pageUrl: string, html: string, fields: Record<string, string> = {}): Promise<Response> {
    const form = /<form([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
    if (!form) throw new Error(`no form on ${pageUrl}:\n${html.slice(0, 500)}`);
    const attribute = (source: string, name: string) => new RegExp(`${name}="([^"]*)"`, 'i').exec(source)?.[1];
    const action = new URL(attribute(form[1]!, 'action') ?? pageUrl, pageUrl);
    const method = (attribute(form[1]!, 'method') ?? 'get').toUpperCase();
    const values = new URLSearchParams();
    for (const input of form[2]!.matchAll(/<input([^>]*)>/gi)) {
      const name = attribute(input[1]!, 'name');
      if (name) values.set(name, unescapeHtml(attribute(input[1]!, 'value') ?? ''));
    }
    for (const [name, value] of Object.entries(fields)) values.set(name, value);
    if (method === 'GET') {
      action.search = values.toString();
      return this.navigate(action);
    }
    return this.navigate(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(pageUrl).origin },
      body: values.toString(),
    });
  }
}

export const finalUrl = (response: Response): string => response.url;

/** Text of an HTML attribute SignOnce wrote, as a browser reads it (the inverse of src/gateway/pages.ts escapeHtml). */
export const unescapeHtml = (text: string): string =>
  text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
