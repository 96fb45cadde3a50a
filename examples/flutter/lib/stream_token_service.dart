import 'dart:convert';

import 'package:cloud_functions/cloud_functions.dart';
import 'package:firebase_auth/firebase_auth.dart';
import 'package:http/http.dart' as http;

/// Talks to the stream-token-edge Worker through the Firebase callable
/// protocol: the same three calls the Cloud Functions answered, now at
/// `<workerUrl>/<name>`. The Firebase SDK adds the ID token itself.
class StreamTokenService {
  StreamTokenService(this.workerUrl);

  /// e.g. https://stream-token-edge.<account>.workers.dev
  /// (locally, after `npm start` and `adb reverse tcp:8787 tcp:8787`: http://127.0.0.1:8787).
  final String workerUrl;

  HttpsCallable _call(String name) =>
      FirebaseFunctions.instance.httpsCallableFromUrl('$workerUrl/$name');

  /// Creates or updates the caller's Stream user, then returns a Stream token.
  Future<String> createUserAndGetToken() async =>
      (await _call('createStreamUserAndGetToken').call<String>()).data;

  /// A fresh Stream token for the signed-in user (no call to Stream).
  Future<String> getToken() async =>
      (await _call('getStreamUserToken').call<String>()).data;

  /// Revokes every Stream token issued to the caller so far (call on sign-out).
  Future<void> revokeTokens() async {
    await _call('revokeStreamUserToken').call();
  }

  /// Deletes the caller's Stream user: `POST <workerUrl>/v1/users/me/delete`.
  ///
  /// Called *after* the Firebase user was deleted, with an ID token obtained
  /// before that. Not a callable: the callable SDK sends the *current* user's
  /// token, and once the account is deleted there is no current user.
  /// Returns true when the Stream user is gone (200 `{"deleted": true}`),
  /// false when the Worker accepted the request but finishes it later
  /// (202 `{"deleted": false, ...}`).
  Future<bool> deleteStreamUser(String idToken) async {
    final url = Uri.parse('$workerUrl/v1/users/me/delete');
    final response = await http.post(url, headers: {'Authorization': 'Bearer $idToken'});
    if (response.statusCode != 200 && response.statusCode != 202) {
      throw http.ClientException('HTTP ${response.statusCode}: ${response.body}', url);
    }
    final body = jsonDecode(response.body) as Map<String, dynamic>;
    return body['deleted'] == true;
  }

  /// For `StreamChatClient.connectUserWithProvider`. The same rules as the
  /// web client's `createStreamTokenProvider` (client/index.ts; docs/clients.md):
  /// 1. the first token comes from `createStreamUserAndGetToken` (the Stream
  ///    user exists with its Firebase profile), plain tokens after;
  /// 2. the SDK calls this only when Stream refused the token it has
  ///    (expired or revoked), so every call fetches a new one (none is
  ///    handed out twice), and concurrent calls share one request;
  /// 3. UNAUTHENTICATED (an ID token that expired or was revoked): a fresh
  ///    ID token (`getIdToken(true)`) once, then the error stands;
  /// 4. RESOURCE_EXHAUSTED / UNAVAILABLE: retried after 1, 2, 4 s (the
  ///    callable SDK does not expose `Retry-After`), then the error stands;
  /// 5. the token is never logged or stored outside memory.
  Future<String> tokenProvider(String userId) {
    final user = FirebaseAuth.instance.currentUser;
    if (user == null || user.uid != userId) {
      return Future.error(StateError('No signed-in Firebase user for $userId'));
    }
    return _inFlight ??= _fetch(user).whenComplete(() => _inFlight = null);
  }

  Future<String>? _inFlight;
  bool _created = false;

  Future<String> _fetch(User user) async {
    final name = _created ? 'getStreamUserToken' : 'createStreamUserAndGetToken';
    var refreshed = false;
    for (var attempt = 0;; attempt++) {
      try {
        final token = (await _call(name).call<String>()).data;
        _created = true;
        return token;
      } on FirebaseFunctionsException catch (error) {
        if (error.code == 'unauthenticated' && !refreshed) {
          refreshed = true;
          await user.getIdToken(true); // the callable SDK sends the refreshed token on the next call
          continue;
        }
        final busy = error.code == 'resource-exhausted' || error.code == 'unavailable';
        if (busy && attempt < 3) {
          await Future<void>.delayed(Duration(seconds: 1 << attempt));
          continue;
        }
        rethrow;
      }
    }
  }
}
