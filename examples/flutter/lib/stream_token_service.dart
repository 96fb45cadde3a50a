import 'dart:convert';
import 'dart:math';

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
  /// 1. the first token for a user comes from `createStreamUserAndGetToken`
  ///    (the Stream user exists with its Firebase profile), plain tokens after;
  /// 2. the SDK calls this only when Stream refused the token it has
  ///    (expired or revoked), so every call fetches a new one (none is
  ///    handed out twice), and concurrent calls for the same user share one
  ///    request;
  /// 3. one user's token is never handed to another: a request is shared only
  ///    with callers for the same uid and generation, a token fetched before
  ///    [reset] (sign-out) is dropped, and a token whose `user_id` is not the
  ///    uid asked for (the callable SDK sends whoever is signed in *now*) is
  ///    refused;
  /// 4. UNAUTHENTICATED (an ID token that expired or was revoked): a fresh
  ///    ID token (`getIdToken(true)`) once, then the error stands;
  /// 5. RESOURCE_EXHAUSTED / UNAVAILABLE: retried after about 1, 2, 4 s,
  ///    jittered (the callable SDK does not expose `Retry-After`), then the
  ///    error stands;
  /// 6. the token is never logged or stored outside memory.
  Future<String> tokenProvider(String userId) {
    final user = FirebaseAuth.instance.currentUser;
    if (user == null || user.uid != userId) {
      return Future.error(StateError('No signed-in Firebase user for $userId'));
    }
    final shared = _inFlight;
    if (shared != null && shared.uid == userId && shared.generation == _generation) return shared.token;
    final generation = _generation;
    late final _InFlight entry;
    entry = _InFlight(
      userId,
      generation,
      _fetch(user, generation).whenComplete(() {
        if (identical(_inFlight, entry)) _inFlight = null;
      }),
    );
    _inFlight = entry;
    return entry.token;
  }

  /// Call on sign-out, before the next user signs in: forgets which users
  /// were created, and drops any token still being fetched.
  void reset() {
    _generation++;
    _inFlight = null;
    _created.clear();
  }

  _InFlight? _inFlight;
  int _generation = 0;
  final Set<String> _created = {};
  final Random _random = Random();

  Future<String> _fetch(User user, int generation) async {
    final name = _created.contains(user.uid) ? 'getStreamUserToken' : 'createStreamUserAndGetToken';
    var refreshed = false;
    for (var attempt = 0;; attempt++) {
      try {
        final token = (await _call(name).call<String>()).data;
        if (generation != _generation) {
          throw StateError('Signed out while the Stream token was fetched: it was dropped');
        }
        if (_userIdOf(token) != user.uid) {
          throw StateError('The Worker answered a Stream token for another user (signed in as someone else meanwhile?)');
        }
        _created.add(user.uid);
        return token;
      } on FirebaseFunctionsException catch (error) {
        if (generation != _generation) rethrow;
        if (error.code == 'unauthenticated' && !refreshed) {
          refreshed = true;
          await user.getIdToken(true); // the callable SDK sends the refreshed token on the next call
          continue;
        }
        final busy = error.code == 'resource-exhausted' || error.code == 'unavailable';
        if (busy && attempt < 3) {
          // 1, 2, 4 s, each between half and the whole, so many clients refused at once do not return at once.
          final ms = (1000 << attempt) ~/ 2 + _random.nextInt((1000 << attempt) ~/ 2);
          await Future<void>.delayed(Duration(milliseconds: ms));
          continue;
        }
        rethrow;
      }
    }
  }
}

/// A token request in flight, and whom it is for.
class _InFlight {
  _InFlight(this.uid, this.generation, this.token);

  final String uid;
  final int generation;
  final Future<String> token;
}

/// The `user_id` claim of a Stream token (read, not verified: the Worker
/// signed it with a secret the app does not have), or null when unreadable.
String? _userIdOf(String token) {
  final parts = token.split('.');
  if (parts.length != 3) return null;
  try {
    final payload = jsonDecode(utf8.decode(base64Url.decode(base64Url.normalize(parts[1]))));
    if (payload is! Map<String, dynamic>) return null;
    final userId = payload['user_id'];
    return userId is String ? userId : null;
  } on FormatException {
    return null;
  }
}
