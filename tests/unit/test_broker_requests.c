/*  test_broker_requests.c -- the request table (broker/requests.h):
    rids, their staleness, and the (routing id, request id) index.  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "requests.h"

/*  A request whose frame is "XX<id>-raw..." and whose route is route.    */
static request_t *
s_add (requests_t *table, const char *route, const char *id)
{
    request_t *req = requests_alloc (table);
    cr_assert_not_null (req);
    cr_assert_eq (req->state, REQ_NEW);
    char frame_text[256];
    snprintf (frame_text, sizeof frame_text, "XX%s-raw-map-bytes-padding-for-a-large-message", id);
    zmq_msg_t route_msg, frame_msg;
    zmq_msg_init_size (&route_msg, strlen (route));
    memcpy (zmq_msg_data (&route_msg), route, strlen (route));
    zmq_msg_init_size (&frame_msg, strlen (frame_text));
    memcpy (zmq_msg_data (&frame_msg), frame_text, strlen (frame_text));
    const char *data = zmq_msg_data (&frame_msg);
    size_t id_len = strlen (id);
    cr_assert_eq (request_attach (req, &route_msg, &frame_msg, data + 2, (uint32_t) id_len,
                                  data + 2 + id_len, strlen (frame_text) - 2 - id_len), 0);
    cr_assert_eq (zmq_msg_size (&route_msg), 0, "the route was moved in");
    /*  The frame was copied: scribbling on ours changes nothing.           */
    memset (zmq_msg_data (&frame_msg), '#', zmq_msg_size (&frame_msg));
    zmq_msg_close (&route_msg);
    zmq_msg_close (&frame_msg);
    requests_index (table, req);
    return req;
}

static request_t *
s_find (requests_t *table, const char *route, const char *id)
{
    return requests_find (table, route, strlen (route), id, strlen (id));
}

Test (requests, rid_names_the_slot_until_freed)
{
    requests_t *table = requests_new ();
    request_t *a = s_add (table, "client-1", "r1");
    uint64_t rid = request_rid (a);
    cr_assert_neq (rid >> 32, 0, "generation is never 0");
    cr_assert_eq (requests_lookup (table, rid), a);
    cr_assert_eq (requests_count (table), 1);
    requests_free (table, a);
    cr_assert_null (requests_lookup (table, rid), "a freed request's rid is stale");
    cr_assert_eq (requests_count (table), 0);
    /*  The slot is reused with a new generation: the old rid stays stale. */
    request_t *b = s_add (table, "client-1", "r2");
    cr_assert_eq (b, a, "freed slots are reused");
    cr_assert_neq (request_rid (b), rid);
    cr_assert_null (requests_lookup (table, rid));
    cr_assert_eq (requests_lookup (table, request_rid (b)), b);
    /*  Garbage rids find nothing.                                          */
    cr_assert_null (requests_lookup (table, 0));
    cr_assert_null (requests_lookup (table, UINT64_MAX));
    cr_assert_null (requests_lookup (table, request_rid (b) + 1));
    requests_destroy (&table);
    cr_assert_null (table);
}

Test (requests, id_and_raw_point_into_the_frame)
{
    requests_t *table = requests_new ();
    request_t *a = s_add (table, "c", "abc");
    uint32_t len;
    const char *id = request_id (a, &len);
    cr_assert_eq (len, 3);
    cr_assert (memcmp (id, "abc", 3) == 0);
    size_t raw_size;
    const char *raw = request_raw (a, &raw_size);
    cr_assert (raw_size > 8 && memcmp (raw, "-raw-map", 8) == 0);
    size_t route_len;
    const char *route = request_route (a, &route_len);
    cr_assert_eq (route_len, 1);
    cr_assert_eq (route[0], 'c');
    requests_destroy (&table);
}

Test (requests, key_index_dedupes_by_route_and_id)
{
    requests_t *table = requests_new ();
    request_t *a = s_add (table, "client-1", "r1");
    request_t *b = s_add (table, "client-2", "r1");     /* same id, other client */
    request_t *c = s_add (table, "client-1", "r2");
    cr_assert_eq (s_find (table, "client-1", "r1"), a);
    cr_assert_eq (s_find (table, "client-2", "r1"), b);
    cr_assert_eq (s_find (table, "client-1", "r2"), c);
    cr_assert_null (s_find (table, "client-3", "r1"));
    cr_assert_null (s_find (table, "client-1", "r"));
    requests_free (table, a);
    cr_assert_null (s_find (table, "client-1", "r1"));
    cr_assert_eq (s_find (table, "client-2", "r1"), b);
    requests_destroy (&table);
}

/*  Enough requests to grow pages and rehash the index several times.     */
Test (requests, many_requests_grow_and_stay_findable)
{
    enum { N = 5000 };
    requests_t *table = requests_new ();
    static uint64_t rids[N];
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf (id, sizeof id, "req-%d", i);
        rids[i] = request_rid (s_add (table, "client", id));
    }
    cr_assert_eq (requests_count (table), N);
    for (int i = 0; i < N; i += 2) {
        snprintf (id, sizeof id, "req-%d", i);
        request_t *req = s_find (table, "client", id);
        cr_assert_not_null (req);
        cr_assert_eq (requests_lookup (table, rids[i]), req);
        requests_free (table, req);
    }
    for (int i = 0; i < N; i++) {
        snprintf (id, sizeof id, "req-%d", i);
        request_t *req = s_find (table, "client", id);
        if (i % 2)
            cr_assert (req && request_rid (req) == rids[i]);
        else
            cr_assert (!req && !requests_lookup (table, rids[i]));
    }
    cr_assert_eq (requests_count (table), N / 2);
    size_t seen = 0;
    for (uint32_t index = 0; index < requests_slots (table); index++)
        seen += requests_at (table, index) != NULL;
    cr_assert_eq (seen, N / 2);
    requests_destroy (&table);
}

Test (requests, renew_makes_the_old_rid_stale)
{
    requests_t *table = requests_new ();
    request_t *a = s_add (table, "c", "r1");
    uint64_t first = request_rid (a);
    uint64_t second = requests_renew (table, a);
    cr_assert_neq (second, first);
    cr_assert_eq ((uint32_t) second, (uint32_t) first, "same slot");
    cr_assert_null (requests_lookup (table, first), "the old dispatch's rid is stale");
    cr_assert_eq (requests_lookup (table, second), a);
    cr_assert_eq (s_find (table, "c", "r1"), a, "the key is unchanged");
    requests_destroy (&table);
}
