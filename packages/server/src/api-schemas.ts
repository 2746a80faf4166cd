import { z } from 'zod';
import { CONTROL_CHARACTERS } from './accounts/email.js';
import { PASSWORD_MAX_LENGTH } from './accounts/password.js';

/** Request bodies: validated with these, and documented from them in the OpenAPI document. */
export const credentialsBody = z
  .object({
    email: z
      .string()
      .max(254)
      // Refused here, before any store sees it: sign-up and login alike.
      .refine((email) => !CONTROL_CHARACTERS.test(email), 'must not contain control characters')
      .describe('The account email; compared case-insensitively.'),
    password: z
      .string()
      .max(PASSWORD_MAX_LENGTH * 4)
      .describe('8–256 characters (at sign-up: not easy to guess, see the README).'),
    transport: z
      .enum(['cookie', 'token'])
      .optional()
      .describe('"cookie" (default) sets the session cookie; "token" returns an access/refresh token pair.'),
    remember: z
      .boolean()
      .optional()
      .describe(
        'Cookie transport: false gives a browser-session cookie (gone when the browser closes) and a session of at most TESSERA_BROWSER_SESSION_MAX_AGE. Default true.',
      ),
  })
  .strict();

export const refreshBody = z.object({ refresh_token: z.string().max(512).optional() }).strict();

export const passwordBody = z
  .object({
    currentPassword: z.string().max(PASSWORD_MAX_LENGTH * 4),
    newPassword: z.string().max(PASSWORD_MAX_LENGTH * 4),
  })
  .strict();

export const reauthenticateBody = z.object({ password: z.string().max(PASSWORD_MAX_LENGTH * 4) }).strict();

export const introspectBody = z
  .object({
    token: z.string().max(8192).describe('The token asked about: an access, refresh or cookie session token.'),
    token_type_hint: z
      .string()
      .max(64)
      .optional()
      .describe(
        '"access_token", "refresh_token" or "session_token" (a cookie session\'s token): looked for first. Other values are ignored.',
      ),
  })
  .strict();

/** Response shapes. */
export const userSchema = z.object({ id: z.string(), email: z.string(), createdAt: z.string() });

export const sessionSchema = z.object({
  id: z.string().describe('The public session id (never the token).'),
  createdAt: z.string(),
  lastSeenAt: z.string(),
  expiresAt: z.string().describe('The absolute end: creation plus the absolute lifetime.'),
  idleExpiresAt: z.string().describe('The end if the session is not used from now.'),
});

export const cookieLoginResponse = z.object({ user: userSchema, session: sessionSchema, csrfToken: z.string() });

export const tokenResponse = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
});

export const tokenLoginResponse = tokenResponse.extend({ user: userSchema });

export const meResponse = z.object({ user: userSchema, session: sessionSchema });

export const csrfResponse = z.object({ csrfToken: z.string() });

export const sessionsResponse = z.object({
  sessions: z.array(
    z.object({
      id: z.string(),
      createdAt: z.string(),
      lastSeenAt: z.string(),
      ip: z.string().nullable().describe('The latest address the session was used from'),
      userAgent: z.string().nullable().describe('The latest user agent the session was used with'),
      signInIp: z.string().nullable().describe('The address it signed in from'),
      signInUserAgent: z.string().nullable().describe('The user agent it signed in with'),
      newDevice: z
        .boolean()
        .describe('Signed in less than a day ago from a client that had not signed in to this account before'),
      current: z.boolean(),
    }),
  ),
});

/** An account as the admin API shows it: the user, and whether (since when) it is disabled. */
export const adminUserResponse = z.object({
  user: userSchema.extend({
    disabledAt: z.string().nullable().describe('When the account was disabled (ISO 8601); null while it may sign in.'),
  }),
});

/** A user's sessions as the admin API lists them: as `GET /auth/sessions`, without `current`. */
export const adminSessionsResponse = z.object({
  sessions: z.array(sessionsResponse.shape.sessions.element.omit({ current: true })),
});

export const introspectionResponse = z
  .object({
    active: z.boolean(),
    sub: z.string().optional(),
    sid: z.string().optional(),
    exp: z.number().optional(),
    iat: z.number().optional(),
    iss: z.string().optional(),
    aud: z.union([z.string(), z.array(z.string())]).optional(),
    jti: z.string().optional(),
    token_type: z.string().optional(),
  })
  .loose();

export const errorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    maxAgeSeconds: z
      .number()
      .int()
      .optional()
      .describe('reauth_required only: how recent, in seconds, the sign-in or re-authentication must be.'),
  }),
});

export const healthResponse = z.object({ status: z.string() });

export const jwksResponse = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

/**
 * The first problem with a body, as a message that names the field, for a
 * 400 `invalid_request`. Values are never echoed: a field may hold a password.
 */
export function describeBodyError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'The request body is malformed.';
  const field = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') return `Unknown field ${issue.keys.map((key) => `"${key}"`).join(', ')}.`;
  if (field === '') return 'The request body must be a JSON object.';
  if (issue.code === 'invalid_type' && issue.input === undefined) return `"${field}" is required.`;
  return `"${field}" is invalid: ${issue.message}.`;
}
