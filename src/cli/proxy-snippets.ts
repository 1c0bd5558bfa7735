// The proxy configurations `signonce snippet` prints for a forward-auth app (docs/forward-auth.md):
// what each proxy needs to ask /.auth/verify before every request, copy SignOnce's answer onto the
// request, remove what a client sent in SignOnce's name, route /.auth/* to SignOnce and keep
// /.auth/verify from clients. The nginx and Caddy ones are the configurations the tests run.

export const PROXY_KINDS = ['nginx', 'caddy', 'traefik', 'envoy'] as const;
export type ProxyKind = (typeof PROXY_KINDS)[number];

export interface SnippetInput {
  readonly appId: string;
  /** The app's hosts (host or host:port), as the proxy serves them. */
  readonly hosts: readonly string[];
  /** Every identity header SignOnce may answer (session/principal.ts identityHeaderNames), lower case. */
  readonly headers: readonly string[];
  /** SignOnce, as the proxy reaches it. */
  readonly signonce: URL;
  /** The app, as the proxy reaches it. */
  readonly upstream: URL;
  /** The port the proxy listens on. */
  readonly listen: number;
}

const hostPort = (url: URL) => `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
/** A name nginx, Traefik and Envoy accept for upstreams, variables and clusters. */
const ident = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/g, '_');
const hostName = (host: string) => host.replace(/:\d+$/, '');
/** Header names as conventionally written (X-MS-CLIENT-PRINCIPAL-NAME), for people reading the config. */
const shown = (name: string) => name.toUpperCase();

/** The headers of nginx's questions to SignOnce: the client's, with the original request described. */
function nginxQuestion(described: Array<[string, string]>): string {
  return [
    ['Connection', '""'],
    ['Content-Length', '""'],
    ['Host', '$http_host'],
    ['X-Forwarded-Host', '$http_host'],
    ...described,
    ['X-Forwarded-For', '$proxy_add_x_forwarded_for'],
    // A WebSocket upgrade is checked like a state-changing request (cross-site WebSocket hijacking).
    ['Upgrade', '$http_upgrade'],
  ]
    .map(([name, value]) => `        proxy_set_header ${name} ${value};`)
    .join('\n');
}

function nginx({ appId, hosts, headers, signonce, upstream, listen }: SnippetInput): string {
  const id = ident(appId);
  // Short variable names: nginx's variables hash has 64-byte buckets by default.
  const variable = (name: string | number) => `$signonce_${id}_${name}`;
  const copies = headers.map((name, i) => `        auth_request_set ${variable(i)} $upstream_http_${ident(name)};`);
  const sets = headers.map((name, i) => `        proxy_set_header ${shown(name)} ${variable(i)};`);
  return `# SignOnce forward-auth for the app "${appId}" (signonce snippet nginx --app ${appId}); inside nginx's http {} block.
upstream signonce_${id} {
    server ${hostPort(signonce)};
    keepalive 64;
}
upstream app_${id} {
    server ${hostPort(upstream)};
    keepalive 64;
}
# WebSocket upgrades pass; other requests keep the upstream connection alive.
map $http_upgrade $signonce_${id}_connection {
    default upgrade;
    "" "";
}
server {
    listen ${listen};
    server_name ${[...new Set(hosts.map(hostName))].join(' ')};

    # SignOnce's endpoints of this app: sign-in, sign-out, /.auth/me, /.auth/refresh, ...
    location /.auth/ {
        proxy_pass http://signonce_${id};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
    }
    # The question asked before each request (auth_request takes 2xx, 401 or 403 for an answer).
    # internal: a client can neither ask it nor choose what is asked.
    location ^~ /.auth/verify {
        internal;
        proxy_pass http://signonce_${id};
        proxy_http_version 1.1;
        proxy_pass_request_body off;
${nginxQuestion([
  ['X-Original-URI', '$request_uri'],
  ['X-Original-Method', '$request_method'],
  ['X-Forwarded-Uri', '""'],
  ['X-Forwarded-Method', '""'],
])}
    }
    # A refusal (401, 403) asked again in the shape whose answer goes to the client as it is: a browser
    # is sent to sign in or shown who it is and what the app asks, an API caller gets the JSON answer.
    location @signonce_${id}_refused {
        rewrite ^ /.auth/verify? break;
        proxy_pass http://signonce_${id};
        proxy_http_version 1.1;
        proxy_pass_request_body off;
        # auth_request already passed the first answer's challenge on.
        proxy_hide_header WWW-Authenticate;
${nginxQuestion([
  ['X-Forwarded-Uri', '$request_uri'],
  ['X-Forwarded-Method', '$request_method'],
  ['X-Original-URI', '""'],
  ['X-Original-Method', '""'],
])}
    }
    location / {
        auth_request /.auth/verify;
        auth_request_set ${variable('cookie')} $upstream_http_x_signonce_cookie;
${copies.join('\n')}
        error_page 401 403 = @signonce_${id}_refused;

        # SignOnce's answer, or nothing: an empty value removes what a client sent under these names.
${sets.join('\n')}
        # The client's cookies without SignOnce's session; SignOnce's authentication token header dropped.
        proxy_set_header Cookie ${variable('cookie')};
        proxy_set_header X-ZUMO-AUTH "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $signonce_${id}_connection;
        proxy_pass http://app_${id};
    }
}
`;
}

function caddy({ appId, hosts, headers, signonce, upstream, listen }: SnippetInput): string {
  const sites = [...new Set(hosts.map(hostName))].map((host) => `http://${host}:${listen}`).join(', ');
  return `# SignOnce forward-auth for the app "${appId}" (signonce snippet caddy --app ${appId}); a Caddyfile site block.
${sites} {
    # Asked by Caddy itself, never by a client.
    @verify path /.auth/verify /.auth/verify/*
    handle @verify {
        respond 404
    }

    # SignOnce's endpoints of this app: sign-in, sign-out, /.auth/me, /.auth/refresh, ...
    handle /.auth/* {
        reverse_proxy ${hostPort(signonce)}
    }

    handle {
        # route: in the order written (Caddy would run request_header after forward_auth).
        route {
            # Nothing a client sends in SignOnce's name reaches SignOnce's answer or the app.
            request_header -X-MS-CLIENT-PRINCIPAL*
            request_header -X-MS-TOKEN-*
            request_header -X-SIGNONCE-*
            request_header -X-ZUMO-AUTH
            request_header -X-Original-URI
            request_header -X-Original-Method
            forward_auth ${hostPort(signonce)} {
                uri /.auth/verify
                copy_headers ${[...headers.map(shown), 'X-SIGNONCE-COOKIE>Cookie'].join(' ')}
            }
            reverse_proxy ${hostPort(upstream)}
        }
    }
}
`;
}

function traefik({ appId, hosts, headers, signonce, upstream, listen }: SnippetInput): string {
  const id = ident(appId);
  const rule = hosts.map((host) => `Host(\`${hostName(host)}\`)`).join(' || ');
  const list = (names: readonly string[]) => names.map((name) => `\n            - ${shown(name)}`).join('');
  return `# SignOnce forward-auth for the app "${appId}" (signonce snippet traefik --app ${appId}); Traefik's dynamic
# configuration (file provider). The entry point "web" listens on :${listen}. Traefik removes the headers named
# in authResponseHeaders from the request before copying SignOnce's. It cannot rename a header, so the
# app also receives SignOnce's session cookie (docs/forward-auth.md).
http:
  routers:
    ${id}-signonce:
      entryPoints: [web]
      rule: "(${rule}) && PathPrefix(\`/.auth/\`) && !PathPrefix(\`/.auth/verify\`)"
      service: signonce-${id}
    ${id}:
      entryPoints: [web]
      rule: "${rule}"
      middlewares: [${id}-signonce]
      service: ${id}
  middlewares:
    ${id}-signonce:
      forwardAuth:
        address: "${signonce.origin}/.auth/verify"
        trustForwardHeader: false
        authResponseHeaders:${list([...headers, 'x-signonce-cookie'])}
  services:
    signonce-${id}:
      loadBalancer:
        servers:
          - url: "${signonce.origin}"
    ${id}:
      loadBalancer:
        servers:
          - url: "${upstream.origin}"
`;
}

function envoy({ appId, hosts, headers, signonce, upstream, listen }: SnippetInput): string {
  const id = ident(appId);
  const cluster = (name: string, url: URL) => `  - name: ${name}
    type: STRICT_DNS
    connect_timeout: 5s
    load_assignment:
      cluster_name: ${name}
      endpoints:
        - lb_endpoints:
            - endpoint:
                address:
                  socket_address: { address: ${url.hostname}, port_value: ${url.port || 80} }`;
  const exact = (names: readonly string[], indent: string) =>
    names.map((name) => `\n${indent}- exact: ${name}`).join('');
  return `# SignOnce forward-auth for the app "${appId}" (signonce snippet envoy --app ${appId}); an Envoy bootstrap
# (static resources). ext_authz asks SignOnce with the original method, and the original path after
# /.auth/verify; the app receives SignOnce's headers, and never a client's under their names.
static_resources:
  listeners:
  - name: ${id}
    address:
      socket_address: { address: 0.0.0.0, port_value: ${listen} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${id}
          upgrade_configs: [{ upgrade_type: websocket }]
          route_config:
            virtual_hosts:
            - name: ${id}
              domains: [${hosts.map((host) => `"${host}"`).join(', ')}]
              request_headers_to_remove: [${headers.map((name) => `"${name}"`).join(', ')}, "x-zumo-auth"]
              routes:
              - match: { prefix: /.auth/verify }
                direct_response: { status: 404 }
                typed_per_filter_config:
                  envoy.filters.http.ext_authz:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                    disabled: true
              - match: { prefix: /.auth/ }
                route: { cluster: signonce_${id} }
                typed_per_filter_config:
                  envoy.filters.http.ext_authz:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                    disabled: true
              - match: { prefix: / }
                route: { cluster: app_${id} }
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              http_service:
                server_uri: { uri: "${signonce.origin}", cluster: signonce_${id}, timeout: 5s }
                path_prefix: /.auth/verify
                authorization_request:
                  allowed_headers:
                    patterns:${exact(['cookie', 'authorization', 'x-zumo-auth', 'accept', 'origin', 'upgrade'], '                    ')}
                    - prefix: sec-fetch-
                authorization_response:
                  allowed_upstream_headers:
                    patterns:${exact(headers, '                    ')}
                  allowed_client_headers:
                    patterns:${exact(['location', 'www-authenticate', 'content-type', 'cache-control'], '                    ')}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${cluster(`signonce_${id}`, signonce)}
${cluster(`app_${id}`, upstream)}
`;
}

/** The configuration of `kind` in front of one forward-auth app. */
export function proxySnippet(kind: ProxyKind, input: SnippetInput): string {
  return { nginx, caddy, traefik, envoy }[kind](input);
}
