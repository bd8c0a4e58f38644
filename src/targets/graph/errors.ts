// Microsoft Graph error answers → how far the failure reaches and what to do about it.
// Error body shape: https://learn.microsoft.com/graph/errors
import { retryAfterMs, type HttpResponse } from '../http.ts';

import { TargetError } from '../target.ts';

function errorBody(response: HttpResponse): { code: string; message: string } {
  try {
    const parsed = JSON.parse(response.body) as { error?: { code?: string; message?: string } };
    return { code: parsed.error?.code ?? `HTTP${response.status}`, message: parsed.error?.message ?? response.body.slice(0, 200) };
  } catch {
    return { code: `HTTP${response.status}`, message: response.body.slice(0, 200) || `HTTP ${response.status}` };
  }
}

/**
 * @param context "mailbox" for requests whose 404 can only mean the mailbox (list, create); "item" for requests
 * on one item, where 404 ErrorItemNotFound means the item is gone.
 */
export function classifyGraphError(response: HttpResponse, context: 'mailbox' | 'item'): TargetError {
  const { status } = response;
  const { code, message } = errorBody(response);
  // request-id / client-request-id: what Microsoft support needs to find the request (logged with the failure).
  const details = {
    status,
    retryAfterMs: retryAfterMs(response.headers['retry-after']),
    ...(response.headers['request-id'] ? { requestId: response.headers['request-id'] } : {}),
    ...(response.headers['client-request-id'] ? { clientRequestId: response.headers['client-request-id'] } : {}),
  };
  const text = `${code}: ${message}`;

  // 429 (ApplicationThrottled: MailboxConcurrency / RequestRate) and 503/504 are retried after Retry-After
  // (https://learn.microsoft.com/graph/throttling, https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
  if (status === 429 || status === 503 || status === 504 || status === 502 || status === 500) {
    return new TargetError('transient', code, text, details);
  }
  if (status === 401) {
    return new TargetError('fatal', code, text, {
      ...details,
      remedy:
        'Graph refused the access token (a freshly fetched one too): check that tenantId is the tenant that owns the mailboxes, and that graphBaseUrl and scope belong to the same cloud',
    });
  }
  if (status === 403) {
    // "Access to OData is disabled." is the answer for a mailbox outside an ApplicationAccessPolicy
    // (https://learn.microsoft.com/graph/auth-limit-mailbox-access); RBAC for Applications answers ErrorAccessDenied too.
    return new TargetError('mailbox', code, text, {
      ...details,
      remedy:
        'the app may not use this mailbox: add it to the RBAC for Applications management scope or the ApplicationAccessPolicy group ' +
        '(check with Test-ServicePrincipalAuthorization / Test-ApplicationAccessPolicy), or make sure the app has the Calendars.ReadWrite ' +
        'application permission with admin consent',
    });
  }
  if (status === 412) {
    // Precondition Failed: the If-Match etag is not the event's current one (someone changed it since). The target
    // reads the current etag and sends once more; only a second 412 in a row gets here as a transient conflict.
    return new TargetError('transient', code, text, details);
  }
  if (status === 404) {
    if (code === 'MailboxNotEnabledForRESTAPI') {
      return new TargetError('mailbox', code, text, {
        ...details,
        remedy: 'the mailbox has no Exchange Online licence, is on-premises, or is inactive/soft-deleted: license it, or reach it through the EWS target',
      });
    }
    if (code === 'ErrorInvalidUser' || code === 'ResourceNotFound' || code === 'Request_ResourceNotFound') {
      return new TargetError('mailbox', code, text, { ...details, remedy: 'no such user or mailbox: check the address in the input' });
    }
    if (code === 'ErrorItemNotFound' && context === 'item') return new TargetError('gone', code, text, details);
    return new TargetError(context === 'item' ? 'gone' : 'mailbox', code, text, details);
  }
  return new TargetError('item', code, text, details);
}
